"""Challenge 4: the recent messages, for whoever comes in.

Someone who joins a chat room sees nothing of what was said before. Make
the room remember its last 10 chat lines, and give them to each newcomer
right after the welcome, framed by two notices. Carol, joining after
alice and bob talked, gets::

    * Welcome to the chat room, 127.0.0.1! Type /help for commands.
    * Recent messages:
    <alice> hi, bob
    <bob> hello, alice
    * End of recent messages.

and then the room's lines as usual. The recent messages are the chat
lines exactly as they were relayed ("<alice> hi, bob"), oldest first, at
most 10 of them. The server's notices (lines that start with "* ": someone
joined, left, or changed their name) are not kept. When nothing has been
said yet, a newcomer gets the welcome alone: no frame, no empty list.

Two things make this harder than it looks.

- Many threads relay lines, and each adds them to the history: keep the
  history in a ``collections.deque(maxlen=10)`` (it forgets the oldest
  line by itself) behind a ``threading.Lock``.
- A line can be relayed while a newcomer joins. The newcomer must get it
  once: from the history, or live, never both, never neither; and every
  live line after the recent ones. The welcome must still be the first
  line a newcomer gets. Think about where the lock must be held, and say
  why in a comment.

Override two public hooks of ``ChatServer``, and call them through
``super()``: ``admit`` (it starts the newcomer's thread, sends the welcome
and adds the member to the room; that thread then announces the arrival
through ``broadcast_lines``) and ``broadcast_lines`` (it relays the lines of
every member, chat lines and notices alike, through the members' outboxes,
which never wait).

Run your chat room with it:
    python exercises/ch4_history.py [IP] [PORT]
Check it:
    python tests/grade.py --student -k ch4
"""

import collections
import sys
import threading

from chatroom.protocol import encode_line
from chatroom.server import ChatServer, main


class HistoryServer(ChatServer):
    """The chat room, where a newcomer gets the last chat lines said before it came."""

    HISTORY = 10
    """How many chat lines the room remembers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recent = collections.deque(maxlen=self.HISTORY)
        self.recent_lock = threading.Lock()

    def broadcast_lines(self, texts, sender=None):
        """Send some lines to every member except ``sender``, as ChatServer does,
        and keep the chat lines among them (not the "* " notices) in ``recent``."""
        ### BEGIN SOLUTION
        # Adding and relaying under one lock: no one joins between the two (see admit).
        # Holding it while sending costs little, since an outbox never waits.
        with self.recent_lock:
            self.recent.extend(text for text in texts if not text.startswith("* "))
            super().broadcast_lines(texts, sender)
        ### END SOLUTION

    def admit(self, member):
        """Let a newcomer in as ChatServer does, then send it the recent messages."""
        ### BEGIN SOLUTION
        # The race: another member's thread relays a line while this newcomer joins.
        # With the lock held from before the join until the recent messages are sent,
        # broadcast_lines runs either wholly before (the line is in the history, and
        # the newcomer, not yet in the room, does not get it live) or wholly after
        # (the newcomer gets it live, after the history, which does not hold it).
        # Never both, never neither. The welcome stays first: super().admit sends
        # it before the join, and the newcomer's own thread, started in there, first
        # announces it through broadcast_lines, which waits for this lock.
        with self.recent_lock:
            super().admit(member)
            if member in self.room.members():  # not turned away by a full room
                self.send_recent(member)
        ### END SOLUTION

    def send_recent(self, member):
        """Send ``member`` the recent messages between their two notices, if there are any.

        The caller holds ``recent_lock``.
        """
        ### BEGIN SOLUTION
        if not self.recent:
            return
        lines = ["* Recent messages:", *self.recent, "* End of recent messages."]
        member.outbox.send(b"".join(encode_line(text) for text in lines))  # in one send
        ### END SOLUTION


if __name__ == "__main__":
    sys.exit(main(server_class=HistoryServer))
