"""Challenge 5: the whole chat room in one thread, with ``selectors``.

``ChatServer`` gives every client a thread of its own. A thread costs
memory (its stack) and time (the operating system switches between them),
and 10,000 clients would need 10,000 threads. The other way, the way of
nginx, Node.js and asyncio, is one thread that never waits for any one
socket: it asks the operating system which sockets are ready (``select``,
``poll``, ``epoll``, ``kqueue``; Python's ``selectors`` picks the best one
there is), and serves each ready socket with non-blocking calls only.

Build ``SelectorChatServer``: the same chat room, with the same behaviour
on the wire as ``ChatServer``, in ONE thread:

- a newcomer gets the welcome as its first line; the others get
  ``* NAME joined``, and ``* NAME left`` when it leaves;
- every chat line goes to everyone else as ``<NAME> text``, in the order
  it was sent, and the lines of one ``recv`` in one send to each reader;
- /nick, /who, /help and /quit work; lines that are too long or not UTF-8
  get the same notices; control characters are removed;
- a full room turns a newcomer away with the same message;
- a reader that lets more than ``max_backlog`` bytes (256 KiB) pile up
  is dropped;
- ``stop()`` says goodbye to everyone and ends the thread within a second.

It runs without the defences (``main(..., defences=False)``): their flood
control holds a flooder's lines back by waiting in the flooder's own
thread, and here there is one thread, which must never wait. Holding one
member's lines back without a thread of its own takes a timer per member:
a challenge of its own.

Do not copy ``ChatServer``: a subclass keeps its constructor, ``address``,
``serve_forever``, ``with``, and the work on each line (``handle_lines``,
``read_line``, ``command``, ``broadcast_lines``), and replaces the threads.
What is given below: ``start`` makes a non-blocking listener and a
selector, and runs ``run_loop`` in one thread (``spawn``); ``admit`` lets a
newcomer in (unless ``turned_away``) and registers its socket, with the
``Member`` as the key's data (the listener's data is None); ``farewell``
unregisters a member and says goodbye as ``ChatServer.farewell`` does;
``watch_writes`` asks for ``EVENT_WRITE`` exactly for the members whose
outbox has a backlog (their sockets were full), and drops the ones whose
outbox broke; ``shut_down`` ends it all.

You write the three parts of the loop:

- ``turn``, one turn of the loop: wait at most ``POLL_SECONDS`` for ready
  sockets (so that ``stop()`` is noticed), and serve each: the listener
  means a newcomer (``take_newcomer``); a member's socket may be writable
  (flush its outbox) or readable (``take_lines``). A member may have left
  earlier in the same turn: skip it. End the turn with ``watch_writes()``.
- ``take_newcomer``: take one connection from the listener, if it is still
  there, and ``admit`` the ``Member`` that ``self.newcomer(sock, address)``
  makes of it, as ``ChatServer.accept_loop`` does (``newcomer`` raises
  OSError if the client hung up meanwhile). A failing ``accept`` (out of
  file descriptors, say) is told to ``on_event`` and ends nothing.
- ``take_lines``: ``receive`` from a member (``chatroom.server.receive``:
  None when there was nothing after all, b"" when the client has gone),
  feed its ``LineBuffer`` (in ``self.buffers``), and act on the complete
  lines with ``handle_lines``; ``farewell`` when it has gone, when its
  outbox broke, or when it leaves (/quit).

No call in the loop may wait for one client: no ``sendall``, no blocking
``recv``, no ``sleep``.

Run your chat room with it, and talk to it with the chat client:
    python exercises/ch5_selectors_server.py [IP] [PORT]
Check it:
    python tests/grade.py --student -k ch5
"""

import selectors
import sys

from chatroom.protocol import LineBuffer
from chatroom.server import GOODBYE, POLL_SECONDS, WELCOME, ChatServer, main, open_listener, receive


class SelectorChatServer(ChatServer):
    """The chat room in one thread: a ``selectors`` loop over non-blocking sockets."""

    def start(self):
        """Listen, and run the event loop in one background thread; return the server."""
        # ChatServer.start keeps the listening socket in _listener: address and stop use it.
        self._listener = open_listener(self.host, self.port)
        self._listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self._listener, selectors.EVENT_READ, None)
        self.buffers = {}  # member -> its LineBuffer, for every member in the room
        self.loop = self.spawn(self.run_loop, "chatroom-selector")
        return self

    def stop(self, timeout=1.0):
        """Say goodbye to every client, close every socket, and end the thread."""
        self.stopping.set()  # the loop sees it within POLL_SECONDS, and shuts down
        if getattr(self, "loop", None) is not None:
            self.loop.join(timeout)
        if self.listener is not None:
            self.listener.close()

    def run_loop(self):
        """The event loop's thread: turn after turn until stop(), then shut everything down."""
        try:
            while not self.stopping.is_set():
                self.turn()
        finally:
            self.stopping.set()  # a loop that failed stops the server: serve_forever() ends
            self.shut_down()

    def turn(self):
        """One turn of the loop: wait up to POLL_SECONDS for ready sockets, and serve them."""
        ### BEGIN SOLUTION
        for key, events in self.selector.select(POLL_SECONDS):
            if key.data is None:
                self.take_newcomer()
                continue
            member = key.data
            if member not in self.buffers:
                continue  # it left earlier in this turn
            if events & selectors.EVENT_WRITE:
                member.outbox.flush()
            if events & selectors.EVENT_READ:
                self.take_lines(member)
        self.watch_writes()
        ### END SOLUTION

    def take_newcomer(self):
        """Take one waiting connection, if there still is one, and let it in."""
        ### BEGIN SOLUTION
        try:
            sock, address = self.listener.accept()
        except BlockingIOError:
            return  # the client gave up before we got to it
        except OSError as error:  # out of file descriptors, for one
            self.on_event(f"cannot accept a connection: {error.strerror}")
            return
        try:
            member = self.newcomer(sock, address)  # Nagle off, a name
        except OSError:  # it hung up before we got to it
            sock.close()
            return
        self.admit(member)
        ### END SOLUTION

    def take_lines(self, member):
        """Take what ``member`` sent and act on its complete lines; farewell when it has gone."""
        ### BEGIN SOLUTION
        data = receive(member.sock)
        if data is None:
            return  # readiness can be spurious: nothing to read after all
        if data == b"" or member.outbox.broken:
            self.farewell(member)
        elif not self.handle_lines(member, self.buffers[member].feed(data)):
            self.farewell(member)  # /quit
        ### END SOLUTION

    def admit(self, member):
        """Let a newcomer in and watch its socket, or turn it away from a full room."""
        if self.turned_away(member):  # the room is full
            return
        member.send_line(WELCOME.format(name=member.name))  # first, before anyone else's line
        self.room.join(member)
        self.buffers[member] = LineBuffer()
        self.selector.register(member.sock, selectors.EVENT_READ, member)
        self.on_event(f"{member.name} connected")
        self.announce(f"* {member.name} joined", member)

    def farewell(self, member):
        """Stop watching a member that has gone, and say goodbye as ChatServer does; once only."""
        if self.buffers.pop(member, None) is None:
            return  # gone already: a hang-up and an end of stream both lead here
        self.selector.unregister(member.sock)
        super().farewell(member)  # leave the room, close, "* NAME left"

    def watch_writes(self):
        """Drop the members whose outbox broke; watch for EVENT_WRITE where there is a backlog."""
        for member in [member for member in self.buffers if member.outbox.broken]:
            self.farewell(member)  # gone, or over max_backlog: broadcast_lines hung it up
        for member in self.buffers:
            wanted = selectors.EVENT_READ
            if member.outbox.has_backlog():
                wanted |= selectors.EVENT_WRITE
            if self.selector.get_key(member.sock).events != wanted:
                self.selector.modify(member.sock, wanted, member)

    def shut_down(self):
        """Say goodbye to everyone still here, close their sockets, and the selector."""
        for member in list(self.buffers):
            member.send_line(GOODBYE)
            self.farewell(member)  # no "left" notices: the server is stopping
        self.selector.close()


if __name__ == "__main__":
    # No defences: their flood control waits in the sender's thread, and this one must never wait.
    sys.exit(main(server_class=SelectorChatServer, defences=False))
