"""Challenge 8: one relay thread does every send.

Lesson 8 measured where a threaded chat room spends its time: in the
sends. Each of N readers' threads sends every line it reads to the N - 1
others itself, so five people talking in a room of 1,000 make five threads
each write to 999 sockets, one line at a time, and all of them take turns
at the one interpreter lock. The single-threaded designs (selectors,
asyncio) win there.

Keep a thread per client for reading, and hand the sending to ONE relay
thread. A reader's thread no longer sends: its ``broadcast_lines`` queues
the lines and returns at once. The relay thread makes passes: on each, it
takes everything queued since its last pass, from every sender, and writes
each reader ONE batch holding all of it (but that reader's own lines). The
busier the room, the more each pass carries, and the fewer sends a line
costs: measured on one machine, it relayed 1.1 to 1.3 times as many lines
a second as the best single-threaded design with 1,000 people and 5
talking (and 0.6 to 0.9 times with 100). Measure yours against the others
in lesson 8: add it to the designs that the lesson compares.

What must hold, on the wire the same as ``ChatServer``:

- no line is lost, and each sender's lines reach every other member in the
  order they were sent; no one gets their own lines back;
- a member's batch holds the lines queued since the relay's last pass, from
  every sender but that member, in the order they were queued, framed by
  ``encode_line``, in one ``outbox.send``; a member whose outbox refuses it
  (gone, or over ``max_backlog``) is hung up, as ``ChatServer`` does, and
  its own thread says goodbye;
- the server's notices (``* NAME joined``, ``* NAME left``, ``* A is now
  B``: ``broadcast`` and ``announce`` call ``broadcast_lines``) go through
  the relay too; lines with no sender (None) go to everyone;
- the relay thread never waits on any one client (an outbox never does),
  and waits for work at most POLL_SECONDS at a time, so that it sees
  ``stopping``;
- when the server stops, what is queued still goes out, before each
  member's goodbye. Once the relay thread has ended (``self.relaying`` is
  False), ``broadcast_lines`` sends from the caller's thread, as
  ``ChatServer`` does: flood control may let held lines go only then.

Given below: ``start`` starts the relay thread (``spawn``) next to
ChatServer's, ``stop`` wakes it, and ``say_goodbye`` waits for it to end
before the goodbye. You write ``broadcast_lines`` (the hook every line and
notice goes through), ``relay`` (the relay thread's loop) and
``relay_pass`` (one pass: one batch to each member). ``self.queue`` holds
(texts, sender) pairs in the order they came; ``self.queued``, a
``threading.Condition``, is the lock that guards ``queue`` and
``relaying``, and the way to wake the relay thread.

Run your chat room with it (with the defences, as ``python -m
chatroom.server`` runs it):
    python exercises/ch8_relay_server.py [IP] [PORT]
Check it:
    python tests/grade.py --student -k ch8
"""

import sys
import threading

from chatroom.protocol import encode_line
from chatroom.server import POLL_SECONDS, ChatServer, main


class RelayChatServer(ChatServer):
    """The chat room with a thread per client for reading, and one relay thread for sending."""

    def start(self):
        """Listen and accept as ChatServer does, and start the relay thread; return the server."""
        self.queue = []  # (texts, sender), in the order they came
        self.queued = threading.Condition()  # guards queue and relaying; wakes the relay thread
        self.relaying = True  # until the relay thread ends
        super().start()
        self.relay_thread = self.spawn(self.relay, "chatroom-relay")
        return self

    def stop(self, timeout=1.0):
        """Stop as ChatServer does; the relay thread wakes now, sends what is queued, and ends."""
        self.stopping.set()
        if getattr(self, "queued", None) is not None:
            with self.queued:
                self.queued.notify()
        super().stop(timeout)

    def say_goodbye(self, member):
        """Let the relay thread send what is queued first: the goodbye is the last line."""
        self.relay_thread.join(POLL_SECONDS)
        super().say_goodbye(member)

    def broadcast_lines(self, texts, sender=None):
        """Queue some lines for every member except ``sender``, and wake the relay thread;
        once it has ended, send them from this thread as ChatServer does."""
        ### BEGIN SOLUTION
        if not texts:
            return
        with self.queued:
            if self.relaying:
                self.queue.append((texts, sender))
                self.queued.notify()
                return
        super().broadcast_lines(texts, sender)  # the server is stopping, and the relay has gone
        ### END SOLUTION

    def relay(self):
        """The relay thread: pass after pass, each with all that was queued since the last,
        until the server stops and nothing is left; then ``relaying`` is False."""
        ### BEGIN SOLUTION
        while True:
            with self.queued:
                self.queued.wait_for(lambda: self.queue or self.stopping.is_set(), POLL_SECONDS)
                taken, self.queue = self.queue, []
                if not taken and self.stopping.is_set():
                    self.relaying = False  # from now on, broadcast_lines sends itself
                    return
            if taken:
                self.relay_pass(taken)
        ### END SOLUTION

    def relay_pass(self, taken):
        """Send each member, in one send, the lines of ``taken`` ((texts, sender) pairs, in
        order) from every sender but itself; hang up any whose outbox refuses."""
        ### BEGIN SOLUTION
        # Frame each sender's lines once. Most members sent nothing since the last pass:
        # they all get the same bytes, joined once. A sender gets the others' lines only.
        pieces = [(sender, b"".join(encode_line(text) for text in texts)) for texts, sender in taken]
        everything = b"".join(data for _, data in pieces)
        senders = {sender for sender, _ in pieces if sender is not None}
        for member in self.room.members():
            if member in senders:
                data = b"".join(piece for sender, piece in pieces if sender is not member)
                if not data:
                    continue
            else:
                data = everything
            if not member.outbox.send(data):
                member.hang_up()  # gone, or not reading: its own thread says goodbye
        ### END SOLUTION


if __name__ == "__main__":
    sys.exit(main(server_class=RelayChatServer))
