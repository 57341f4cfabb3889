"""Challenge 6: private messages and actions.

Teach your chat room two new commands. No lesson shows how: the chat server
already sends every line that starts with "/" to ``ChatServer.command``, so
a variation of the server that overrides that one method can add commands,
and pass the rest on to the ones the room already knows.

``/msg NAME text`` sends ``text`` to the one person called NAME, and to no
one else. Names match without regard to case: ``/msg BOB hi`` reaches bob.
Bob sees::

    * alice whispers: hi

Alice (the sender) sees nothing when it worked: no echo. She is told only
what went wrong::

    /msg nobody hi      ->  * no one here is called nobody
    /msg bob            ->  * usage: /msg NAME text
    /msg                ->  * usage: /msg NAME text

``/me text`` tells everyone else what you are doing: ``/me waves`` from
alice reaches every other member as ``* alice waves``. ``/me`` with no
text gets ``* usage: /me text``, and nothing is sent.

The command word is not case-sensitive (``/MSG`` works too), as with
/nick and the others. The text is the rest of the line, without the spaces
around it. Every other command (/nick, /who, /help, /quit, an unknown one)
behaves exactly as before: hand it to ``super().command``.

The text needs no cleaning of its own: the server cleans every line
(``read_line``: UTF-8 checked, control characters and escape sequences
removed) before ``command`` sees it, so a whisper is as safe to show as
any other line.

Run your chat room with it, and talk to it with the chat client:
    python exercises/ch6_private_messages.py [IP] [PORT]
Check it:
    python tests/grade.py --student -k ch6
"""

import sys

from chatroom.server import ChatServer, main


class PrivateMessagesServer(ChatServer):
    """The chat room, with /msg (a private message) and /me (an action)."""

    def command(self, member, line):
        """Carry out a line that starts with '/'; return False when the member leaves.

        /msg and /me are handled here; any other command goes to ChatServer's.
        """
        ### BEGIN SOLUTION
        word, _, rest = line.partition(" ")
        word = word.lower()
        if word == "/msg":
            self.whisper(member, rest)
        elif word == "/me":
            self.act(member, rest.strip())
        else:
            return super().command(member, line)
        return True
        ### END SOLUTION

    def whisper(self, member, argument):
        """Send ``argument``'s text to the member it names, or tell ``member`` why not.

        ``argument`` is what follows "/msg ": a name, then the text.
        """
        ### BEGIN SOLUTION
        name, _, text = argument.strip().partition(" ")
        text = text.strip()
        if not name or not text:
            member.send_line("* usage: /msg NAME text")
            return
        target = self.find(name)
        if target is None:
            member.send_line(f"* no one here is called {name}")
            return
        if not target.send_line(f"* {member.name} whispers: {text}"):
            target.hang_up()  # not keeping up: its own thread says goodbye, as in a broadcast
        # The log shows that a whisper went, never what it said.
        self.on_event(f"{member.name} whispered to {target.name}")
        ### END SOLUTION

    def find(self, name):
        """The member called ``name``, ignoring case, or None."""
        ### BEGIN SOLUTION
        wanted = name.lower()
        for other in self.room.members():
            if other.name.lower() == wanted:
                return other
        return None
        ### END SOLUTION

    def act(self, member, text):
        """Tell everyone else ``* NAME text``; or tell ``member`` how to use /me."""
        ### BEGIN SOLUTION
        if not text:
            member.send_line("* usage: /me text")
            return
        self.on_event(f"* {member.name} {text}")
        self.broadcast(f"* {member.name} {text}", member)
        ### END SOLUTION


if __name__ == "__main__":
    sys.exit(main(server_class=PrivateMessagesServer))
