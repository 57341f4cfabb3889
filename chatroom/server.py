"""The chat server: one thread accepts connections, and one thread serves each client.

How the pieces fit::

    ChatServer.start()  -> accept thread: _accept_loop()
                              for each connection: welcome, Room.join(), then a thread running
    ChatServer.handle(member)  "joined"; recv -> LineBuffer -> handle_lines() -> broadcast_lines()
    ChatServer.stop()   -> goodbye to everyone, sockets shut, threads joined

A variation of the server overrides ``handle``, the per-client work, and
keeps the rest. Lines go out through each member's ``Outbox``, which never
blocks, so one client that stops reading cannot hold up the others.
What the server has to show (connections, messages) goes to ``on_event``:
the logging module by default, or a ``print`` or ``queue.put`` of your own.

Run it with ``python -m chatroom.server [IP] [PORT]``.
"""

import logging
import signal
import socket
import sys
import threading
import time

from . import cli
from .commands import run_command
from .outbox import MAX_BACKLOG_BYTES, wait_for_socket
from .protocol import LineBuffer, LineRejected, clean_text, decode_line, encode_line
from .room import Member, Room

log = logging.getLogger("chatroom.server")

DEFAULT_MAX_CLIENTS = 100
ANNOUNCE_UP_TO = 100  # joins and leaves are announced in a room of at most this many people
POLL_SECONDS = 0.25  # how long a thread waits before it checks for shutdown
RECV_BYTES = 4096
WELCOME = "* Welcome to the chat room, {name}! Type /help for commands."
GOODBYE = "* The server is shutting down. Goodbye!"


class ChatServer:
    """A chat room over TCP, with one thread per client."""

    def __init__(self, host="127.0.0.1", port=0, *, max_clients=DEFAULT_MAX_CLIENTS,
                 max_backlog=MAX_BACKLOG_BYTES, on_event=None):
        self.host, self.port = host, port
        self.room = Room(max_clients)
        self.max_backlog = max_backlog
        self.on_event = on_event or log.info
        self._listener = None
        self._acceptor = None
        self._threads = []
        self._stopping = threading.Event()

    def start(self):
        """Listen, and accept clients in a background thread; return the server."""
        self._listener = open_listener(self.host, self.port)
        self._listener.settimeout(POLL_SECONDS)
        self._acceptor = self._spawn(self._accept_loop, "chatroom-accept")
        return self

    @property
    def address(self):
        """The (host, port) the server listens on: the real port when started on 0."""
        return self._listener.getsockname()[:2]

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                sock, address = self._listener.accept()
            except socket.timeout:
                continue
            except OSError as error:  # out of file descriptors, for one
                self.on_event(f"cannot accept a connection: {error.strerror}")
                self._stopping.wait(POLL_SECONDS)
                continue
            if self._stopping.is_set():  # stop() woke us up, or a newcomer came too late
                sock.close()
                break
            # Send each line at once: Nagle's algorithm would hold a small line back
            # while the previous one waits for an ACK that the peer may delay 40 ms.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._admit(Member(sock, address, self.max_backlog))

    def _admit(self, member):
        if self.room.is_full():  # only this thread adds members: it cannot fill up meanwhile
            member.send_line(f"* Sorry, the room is full ({self.room.max_members} people). "
                             "Try again later.")
            member.hang_up()
            member.sock.close()
            self.on_event(f"{member.name} turned away: the room is full")
            return
        # The welcome goes out before the member is in the room, where others' lines reach it.
        member.send_line(WELCOME.format(name=member.name))
        self.room.join(member)
        self._spawn(self._serve, f"chatroom-{member.name}", member)

    def _serve(self, member):
        try:
            self.handle(member)
        finally:
            self._farewell(member)

    def handle(self, member):
        """Serve one client until it leaves: announce it, then act on each line it sends."""
        self.on_event(f"{member.name} connected")
        self.announce(f"* {member.name} joined", member)
        lines = LineBuffer()
        while True:  # until the client leaves, or stop() hangs up on it
            readable, writable = wait_for_socket(member.sock, POLL_SECONDS,
                                                 writing=member.outbox.has_backlog())
            if writable:
                member.outbox.flush()
            data = receive(member.sock) if readable else None
            if data == b"" or member.outbox.broken:
                return
            if not self.handle_lines(member, lines.feed(data or b"")):
                return

    def handle_lines(self, member, raws):
        """Act on the lines of one ``recv`` from ``member``; return False when it leaves.

        Chat lines that arrived together are relayed together, in one send to
        each reader instead of one per line: sends are most of the server's work.
        """
        relay = []
        for raw in raws:
            text = self.read_line(member, raw)
            if text is None or not text.strip():
                continue
            if text.startswith("/"):
                self.broadcast_lines(relay, member)  # what came before goes first
                relay = []
                if not self.command(member, text):
                    return False
            else:
                self.on_event(f"<{member.name}> {text}")
                relay.append(f"<{member.name}> {text}")
        self.broadcast_lines(relay, member)
        return True

    def command(self, member, line):
        """Carry out a line that starts with '/'; return False when the member leaves."""
        return run_command(self, member, line)

    def read_line(self, member, raw):
        """The clean text of one line, or None if it is refused (and the sender told why)."""
        try:
            return clean_text(decode_line(raw))
        except LineRejected as problem:
            member.send_line(f"* {problem}")
            self.on_event(f"{member.name}: {problem}")
            return None

    def broadcast(self, text, sender=None):
        """Send one line to every member except ``sender``."""
        self.broadcast_lines([text], sender)

    def announce(self, text, member):
        """Tell the others that ``member`` joined or left, if the room is small enough.

        Each notice is a send to everyone: when 1,000 people arrive at once, the
        notices cost 500,000 sends and bury the conversation. So a room of more
        than ANNOUNCE_UP_TO people, counting ``member``, is not told; /who still
        says who is here.
        """
        if len(self.room.others(member)) < ANNOUNCE_UP_TO:
            self.broadcast(text, member)

    def broadcast_lines(self, texts, sender=None):
        """Send some lines to every member except ``sender``, in one send to each.

        Each member gets all of ``texts`` as one piece of bytes, through its
        outbox. A member whose outbox refuses (it has gone, or stopped reading)
        is hung up, and the others still get the lines: its own thread sees
        the hang-up and says goodbye. Nothing is sent when ``texts`` is empty.
        """
        ### BEGIN SOLUTION
        if not texts:
            return
        data = b"".join(encode_line(text) for text in texts)
        for member in self.room.others(sender):
            if not member.outbox.send(data):
                member.hang_up()
        ### END SOLUTION

    def _farewell(self, member):
        self.room.leave(member)
        member.hang_up()
        member.sock.close()
        if member.outbox.overflowed:
            self.on_event(f"{member.name} dropped: it stopped reading "
                          f"(over {self.max_backlog} bytes waiting)")
        else:
            self.on_event(f"{member.name} disconnected")
        if not self._stopping.is_set():
            self.announce(f"* {member.name} left", member)

    def stop(self, timeout=1.0):
        """Say goodbye to every client, close every socket, and end every thread."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        if self._acceptor is not None and self._acceptor.is_alive():
            self._wake_acceptor()
            self._acceptor.join(timeout)  # no one new joins from here on
        for member in self.room.members():
            member.send_line(GOODBYE)
            member.hang_up()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            self._listener.close()

    def _wake_acceptor(self):
        """Connect to ourselves, so that accept() returns now, not at its next timeout."""
        host, port = self.address
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        try:
            socket.create_connection((host, port), timeout=POLL_SECONDS).close()
        except OSError:
            pass  # the timeout on accept() ends the loop all the same

    def serve_forever(self):
        """Run until Ctrl-C (or SIGTERM), then stop cleanly."""
        try:
            while not self._stopping.wait(POLL_SECONDS):  # a timeout lets Ctrl-C in
                pass
        except KeyboardInterrupt:
            self.on_event("Ctrl-C: shutting down")
        finally:
            self.stop()

    def _spawn(self, target, name, *args):
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def receive(sock):
    """What a ready socket has for us: b"" once the peer has gone, None if nothing yet."""
    try:
        return sock.recv(RECV_BYTES)
    except BlockingIOError:
        return None
    except OSError:  # reset by the peer, or shut down by stop()
        return b""


def open_listener(host, port):
    """A TCP socket listening on (host, port); IPv6 when the host is an IPv6 address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=socket.SOMAXCONN)


def main(argv=None, server_class=None):
    """The command line: ``python -m chatroom.server [IP] [PORT] [--max-clients N]``.

    ``server_class`` runs a variation of ``ChatServer`` with the same command line.
    """
    cli.require_pieces("server", server_class)
    args = cli.server_arguments(argv)
    cli.forgive_unprintable_characters()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stdout)
    cli.raise_open_file_limit()
    server = (server_class or ChatServer)(args.host, args.port, max_clients=args.max_clients)
    try:
        server.start()
    except OSError as error:
        cli.fail(cli.explain_listen_error(error, args.host, args.port))
    for line in cli.where_to_connect(*server.address):
        log.info(line)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass  # Ctrl-C again while stopping: exiting closes whatever is left
    log.info("Server stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
