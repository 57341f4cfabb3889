"""Challenge 4: the whole chat room in one thread, with ``selectors``.

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
- a full room, or an address with ``max_per_address`` people in it
  already, turns a newcomer away with the same message;
- a reader that lets more than ``max_backlog`` bytes (256 KiB) pile up
  is dropped;
- ``stop()`` says goodbye to everyone and ends the thread within a second.

Flood control is left out: holding one member's lines back without a
thread of its own takes a timer per member, a challenge of its own.

Do not copy ``ChatServer``: a subclass keeps its constructor, ``address``,
``serve_forever``, ``with``, and the work on each line (``handle_lines``,
``read_line``, ``command``, ``broadcast_lines``), and replaces the threads.
What is given below: ``start`` makes a non-blocking listener and a
selector, and runs ``_run`` in one thread; ``_admit`` lets a newcomer in
(unless ``turned_away``) and registers its socket, with the ``Member``
as the key's data (the listener's data is None); ``_farewell`` unregisters a member and says
goodbye; ``_watch_writes`` asks for ``EVENT_WRITE`` exactly for the members
whose outbox has a backlog (their sockets were full), and drops the ones
whose outbox broke; ``_shut_down`` ends it all.

You write the three parts of the loop:

- ``_turn``, one turn of the loop: wait at most ``POLL_SECONDS`` for ready
  sockets (so that ``stop()`` is noticed), and serve each: the listener
  means a newcomer (``_accept``); a member's socket may be writable (flush
  its outbox) or readable (``_read``). A member may have left earlier in
  the same turn: skip it. End the turn with ``_watch_writes()``.
- ``_accept``: take one connection from the listener, if it is still
  there, and ``_admit`` the ``Member`` that ``self.newcomer(sock,
  address)`` makes of it, as ``ChatServer`` does (Nagle off, keepalive
  on, a name; OSError if the client hung up meanwhile).
- ``_read``: ``receive`` from a member (``chatroom.server.receive``: None
  when there was nothing after all, b"" when the client has gone), feed
  its ``LineBuffer`` (in ``self._lines``), and act on the complete lines
  with ``handle_lines``; say ``_farewell`` when it has gone or leaves.

No call in the loop may wait for one client: no ``sendall``, no blocking
``recv``, no ``sleep``.

Run your chat room with it, and talk to it with the chat client:
    python exercises/ch4_selectors_server.py [IP] [PORT]
Check it:
    python tests/grade.py --student -k ch4
"""

import selectors
import sys

from chatroom.protocol import LineBuffer
from chatroom.server import GOODBYE, POLL_SECONDS, WELCOME, ChatServer, main, open_listener, receive


class SelectorChatServer(ChatServer):
    """The chat room in one thread: a ``selectors`` loop over non-blocking sockets."""

    def start(self):
        """Listen, and run the event loop in one background thread; return the server."""
        self._listener = open_listener(self.host, self.port)
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._lines = {}  # member -> its LineBuffer, for every member in the room
        self._spawn(self._run, "chatroom-selector")
        return self

    def stop(self, timeout=1.0):
        """Say goodbye to every client, close every socket, and end the thread."""
        self._stopping.set()  # the loop sees it within POLL_SECONDS, and shuts down
        for thread in self._threads:
            thread.join(timeout)
        if self._listener is not None:
            self._listener.close()

    def _run(self):
        """The event loop's thread: turn after turn until stop(), then shut everything down."""
        try:
            while not self._stopping.is_set():
                self._turn()
        finally:
            self._stopping.set()  # a loop that failed stops the server: serve_forever() ends
            self._shut_down()

    def _turn(self):
        """One turn of the loop: wait up to POLL_SECONDS for ready sockets, and serve them."""
        raise NotImplementedError("challenge 4: SelectorChatServer._turn")

    def _accept(self):
        """Take one waiting connection, if there still is one, and let it in."""
        raise NotImplementedError("challenge 4: SelectorChatServer._accept")

    def _read(self, member):
        """Take what ``member`` sent and act on its complete lines; say goodbye when it has gone."""
        raise NotImplementedError("challenge 4: SelectorChatServer._read")

    def _admit(self, member):
        """Let a newcomer in and watch its socket, or turn it away from a full room."""
        if self.turned_away(member):  # the room, or its address, is full
            return
        member.send_line(WELCOME.format(name=member.name))  # first, before anyone else's line
        self.room.join(member)
        self._lines[member] = LineBuffer()
        self._selector.register(member.sock, selectors.EVENT_READ, member)
        self.on_event(f"{member.name} connected")
        self.announce(f"* {member.name} joined", member)

    def _farewell(self, member):
        """Stop watching a member that has gone, and say goodbye as ChatServer does; once only."""
        if self._lines.pop(member, None) is None:
            return  # gone already: a hang-up and an end of stream both lead here
        self._selector.unregister(member.sock)
        super()._farewell(member)  # leave the room, close, "* NAME left"

    def _watch_writes(self):
        """Drop the members whose outbox broke; watch for EVENT_WRITE where there is a backlog."""
        for member in [member for member in self._lines if member.outbox.broken]:
            self._farewell(member)  # gone, or over max_backlog: broadcast_lines hung it up
        for member in self._lines:
            wanted = selectors.EVENT_READ
            if member.outbox.has_backlog():
                wanted |= selectors.EVENT_WRITE
            if self._selector.get_key(member.sock).events != wanted:
                self._selector.modify(member.sock, wanted, member)

    def _shut_down(self):
        """Say goodbye to everyone still here, close their sockets, and the selector."""
        for member in list(self._lines):
            member.send_line(GOODBYE)
            self._farewell(member)  # no "left" notices: the server is stopping
        self._selector.close()


if __name__ == "__main__":
    sys.exit(main(server_class=SelectorChatServer))
