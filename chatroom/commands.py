"""Chat commands: a line that starts with '/' talks to the server, not to the room."""

from .protocol import MAX_LINE_BYTES

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
        for text in who_lines(sorted(other.name for other in server.room.members())):
            member.send_line(text)
    elif command == "/help":
        for text in HELP:
            member.send_line(text)
    else:
        member.send_line(f"* unknown command {command}; try /help")
    return True


def who_lines(names, width=MAX_LINE_BYTES):
    """The answer to /who: "* 3 here: alice, bob, carol", on more lines when it is long.

    In a full room the names fill several kilobytes, more than a client takes
    in one line, so the list goes on in lines that start with "*   ".
    """
    lines, line = [], f"* {len(names)} here:"
    for number, name in enumerate(names, 1):
        word = f" {name}," if number < len(names) else f" {name}"
        if len(line) + len(word) > width:
            lines.append(line)
            line = "*  "
        line += word
    return lines + [line]


def change_nickname(server, member, name):
    """Rename ``member`` and tell the room, or tell the member why not."""
    old = member.name
    problem = server.room.rename(member, name) if name else "usage: /nick NAME"
    if problem:
        member.send_line(f"* {problem}")
    elif name != old:
        member.send_line(f"* you are now {name}")
        server.broadcast(f"* {old} is now {name}", member)
