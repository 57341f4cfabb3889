"""Challenge 2: flood control, the way IRC servers do it ("fakelag").

One person who pastes a thousand lines, or runs a script that sends
without end, spoils the room for everyone. Dropping their lines would
lose messages; instead, slow the flooder down, and only the flooder.

The rule, a token bucket per member: a member may send a burst of
``BURST`` lines (5) at once; after that, ``RATE`` lines (2) a second on
average. Think of a bucket that holds at most 5 tokens and gains 2 a
second; each line a member sends takes one token; a full bucket gains
nothing. Every line counts: chat lines, commands, and blank lines too.

A line that finds no token is not dropped: the member's own thread waits
until the bucket has a token for it, then goes on as usual. While it
waits it reads nothing from that member, so TCP's flow control slows the
flooder's sending too. Everyone else is served by threads of their own,
and their lines go through at once, flood or not.

The first time a member's lines are held back, that member (and only
that member) is told, once for the whole connection, with the numbers of
``RATE`` and ``BURST`` (printed with ``:g``: 2.0 is "2")::

    * slow down: at most 2 lines a second after a burst of 5; your lines are delayed

So a member who sends 40 lines at once has the first 5 relayed at once,
then one line every half second: the 40th goes out about 17.5 s later.
A member who sends one line every second is never held back nor told.

Write ``TokenBucket``: its time comes from ``clock``, ``time.monotonic``
(which never goes back) unless the tests give it a clock of their own.
Then ``FloodControlServer.warn``, and ``handle_lines``, which receives the
lines of one ``recv`` and must hand them on to ``ChatServer.handle_lines`` only
as fast as the bucket allows: the lines that have a token now go at
once, together, and the rest wait. Wait on the server's stop event with
a timeout (``self._stopping.wait(seconds)``), not with ``time.sleep``:
``stop()`` must not wait for a member that is held back. When the server
stops, forget the lines still waiting and return True: ``stop()`` then
says goodbye to the member and hangs up, which ends its thread (return
False, and the member would leave before it is told goodbye). Keep
``BURST`` and ``RATE`` as class attributes, and read them as ``self.BURST``
and ``self.RATE``: the tests set their own on the server.

Run your chat room with it, and paste a long text into a chat client:
    python exercises/ch2_flood_control.py [IP] [PORT]
Check it:
    python tests/grade.py --student -k ch2
"""

import sys
import time

from chatroom.server import ChatServer, main


class TokenBucket:
    """How many lines a member may send now: ``burst`` at most, refilled at ``rate`` a second."""

    def __init__(self, burst, rate, clock=time.monotonic):
        self.burst, self.rate, self.clock = burst, rate, clock
        self.tokens = float(burst)  # a newcomer may send a burst at once
        self.checked = clock()

    def refill(self):
        """Add the tokens earned since the last call, up to ``burst``."""
        raise NotImplementedError("challenge 2: TokenBucket.refill")

    def take(self, wanted):
        """Take a token for each of up to ``wanted`` lines; return how many lines may go now."""
        raise NotImplementedError("challenge 2: TokenBucket.take")

    def wait_time(self):
        """Seconds until the next whole token (0.0 when there is one now)."""
        raise NotImplementedError("challenge 2: TokenBucket.wait_time")


class FloodControlServer(ChatServer):
    """The chat room, where a member who floods is slowed down, not cut off."""

    BURST = 5
    RATE = 2.0
    WARNING = ("* slow down: at most {rate:g} lines a second after a burst of {burst}; "
               "your lines are delayed")

    def handle(self, member):
        """Serve one client as ChatServer does, with a full bucket and no warning yet."""
        # Only the member's own thread uses its bucket, so the bucket needs no lock.
        member.bucket = TokenBucket(self.BURST, self.RATE)
        member.warned = False
        super().handle(member)

    def handle_lines(self, member, raws):
        """Act on the lines of one ``recv``, as fast as ``member``'s bucket allows.

        Returns False when the member leaves. When the server stops, the lines
        still waiting are dropped: stop() says goodbye to everyone.
        """
        raise NotImplementedError("challenge 2: FloodControlServer.handle_lines")

    def warn(self, member):
        """Tell ``member`` the first time its lines are held back; log it too."""
        raise NotImplementedError("challenge 2: FloodControlServer.warn")


if __name__ == "__main__":
    sys.exit(main(server_class=FloodControlServer))
