"""Chat commands: a line that starts with '/' talks to the server, not to the room."""

HELP = [
    "* Commands:",
    "*   /nick NAME  choose the name others see",
    "*   /who        list who is here",
    "*   /help       show this help",
    "*   /quit       leave the chat",
    "* Any other line goes to everyone else in the room.",
]


def run_command(server, member, line):
    """Carry out one command line; return False when the member leaves."""
    command, _, argument = line.partition(" ")
    command, argument = command.lower(), argument.strip()
    if command == "/quit":
        member.send_line("* Bye!")
        return False
    if command == "/nick":
        change_nickname(server, member, argument)
    elif command == "/who":
        names = sorted(other.name for other in server.room.members())
        member.send_line(f"* {len(names)} here: {', '.join(names)}")
    elif command == "/help":
        for text in HELP:
            member.send_line(text)
    else:
        member.send_line(f"* unknown command {command}; try /help")
    return True


def change_nickname(server, member, name):
    """Rename ``member`` and tell the room, or tell the member why not."""
    old = member.name
    problem = server.room.rename(member, name) if name else "usage: /nick NAME"
    if problem:
        member.send_line(f"* {problem}")
    elif name != old:
        member.send_line(f"* you are now {name}")
        server.broadcast(f"* {old} is now {name}", member)
