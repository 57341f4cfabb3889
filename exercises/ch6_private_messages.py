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
        raise NotImplementedError("challenge 6: PrivateMessagesServer.command")

    def whisper(self, member, argument):
        """Send ``argument``'s text to the member it names, or tell ``member`` why not.

        ``argument`` is what follows "/msg ": a name, then the text.
        """
        raise NotImplementedError("challenge 6: PrivateMessagesServer.whisper")

    def find(self, name):
        """The member called ``name``, ignoring case, or None."""
        raise NotImplementedError("challenge 6: PrivateMessagesServer.find")

    def act(self, member, text):
        """Tell everyone else ``* NAME text``; or tell ``member`` how to use /me."""
        raise NotImplementedError("challenge 6: PrivateMessagesServer.act")


if __name__ == "__main__":
    sys.exit(main(server_class=PrivateMessagesServer))
