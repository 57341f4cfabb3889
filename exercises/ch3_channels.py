"""Challenge 3: channels, the rooms within the chat room.

One room for everyone gets noisy. Let people gather in channels, as on IRC:
everyone starts in ``#lobby``, and a chat line reaches only the members of
the sender's channel. Three commands move and look around:

    /join #games    ->  * you are now in #games
    /part           ->  * you are now in #lobby       (/join alone does the same)
    /channels       ->  * Channels:
                        *   #games: 2 here
                        *   #lobby: 3 here
                        * End of channels.

A channel name is a '#', then a letter, then up to 19 letters, digits, '_'
or '-'. Names ignore case, and are shown lowercased: ``/join #Games`` puts
you in ``#games``. A channel exists while someone is in it; ``/channels``
lists those, sorted by name, each with how many people are in it. Joining
the channel you are in changes nothing: ``* you are already in #games``.
A bad name gets one line, and you stay where you are::

    * a channel name is a '#', then a letter, then up to 19 letters, digits, '_' or '-'

``/who`` answers as before, for your channel only: ``* 2 here: carol, dave``.

A move is announced to both channels, and to no one else. When alice
joins #games, the others in her old channel get ``* alice left for #games``
and those in #games get ``* alice joined #games``; alice gets only her
``* you are now in #games``. The server's own notices follow the member
too: ``* bob joined`` (on connecting, in #lobby), ``* bob left`` (on
hanging up) and ``* bob is now robert`` go to the member's channel only.
Nicknames are still the server's: two channels cannot both have a bob.

Nothing is lost, and each sender's lines keep their order, in every channel.
And a member who moves gets no line of its old channel after its ``* you
are now in``, and every line of its new channel after it. Each member's
thread relays its lines with ``broadcast_lines``, and the server's notices
go through it too (``broadcast`` and ``announce`` call it), while other
threads move people about: which lock protects a member's channel? Say
why in a comment.

Write the methods of ``ChannelServer``, overriding only ``command`` and
``broadcast_lines`` of ``ChatServer``; ``send_to`` is the work they share,
and ``who_lines`` (chatroom/commands.py) makes the answer to /who from a
list of names. The command word ignores case (``/JOIN``), as with /nick;
every other command (/nick, /help, /quit, an unknown one) goes to
``super().command``.

Run your chat room with it, and talk to it with two or three chat clients:
    python exercises/ch3_channels.py [IP] [PORT]
Check it:
    python tests/grade.py --student -k ch3
"""

import collections
import re
import sys
import threading

from chatroom.commands import who_lines
from chatroom.protocol import encode_line
from chatroom.server import ChatServer, main

LOBBY = "#lobby"
CHANNEL = re.compile(r"#[A-Za-z][A-Za-z0-9_-]{0,19}")
BAD_NAME = "* a channel name is a '#', then a letter, then up to 19 letters, digits, '_' or '-'"


def channel_of(member):
    """The channel ``member`` is in: #lobby, until it moves (then ``member.channel``)."""
    return getattr(member, "channel", LOBBY)


class ChannelServer(ChatServer):
    """The chat room, split into channels: each line reaches the sender's channel only."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel_lock = threading.Lock()  # held to read or change any member's channel

    def command(self, member, line):
        """Carry out a line that starts with '/'; return False when the member leaves.

        /join, /part, /channels and /who are handled here; any other command goes to
        ChatServer's.
        """
        raise NotImplementedError("challenge 3: ChannelServer.command")

    def move(self, member, channel):
        """Put ``member`` in ``channel``, and tell it, its old channel and its new one."""
        raise NotImplementedError("challenge 3: ChannelServer.move")

    def broadcast_lines(self, texts, sender=None):
        """Send some lines to every member of ``sender``'s channel but ``sender``, in one
        send to each; to every member when there is no sender."""
        raise NotImplementedError("challenge 3: ChannelServer.broadcast_lines")

    def send_to(self, channel, texts, sender=None):
        """Send ``texts`` to the members of ``channel`` (of every channel when it is
        None) except ``sender``, in one send to each; hang up any whose outbox refuses.

        The caller holds ``channel_lock``.
        """
        raise NotImplementedError("challenge 3: ChannelServer.send_to")

    def who(self, member):
        """Tell ``member`` who is in its channel, as /who does for the room."""
        raise NotImplementedError("challenge 3: ChannelServer.who")

    def list_channels(self, member):
        """Tell ``member`` each channel that someone is in, and how many are in it."""
        raise NotImplementedError("challenge 3: ChannelServer.list_channels")


if __name__ == "__main__":
    sys.exit(main(server_class=ChannelServer))
