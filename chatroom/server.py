"""The chat server: one thread accepts connections, and one thread serves each client.

How a chat line travels through it (the parts you write are marked *)::

    start() *           listen, and run accept_loop() in a thread of its own
    accept_loop() *     accept each connection: newcomer(), then admit()
    admit(member) *     turned_away()? else start a thread running serve(); the welcome;
                        join the room
    serve(member) *     "joined", handle(member), say_goodbye() if stopping, farewell()
    handle(member) *    recv -> LineBuffer -> handle_lines(), until the client leaves
    handle_lines() *    each line: a command, or chat for broadcast_lines()
    broadcast_lines() * one send to each other member, through its Outbox
    farewell(member) *  out of the room, socket closed, "* NAME left"
    stop() *            each thread sends what is queued, then the goodbye (say_goodbye() *);
                        sockets shut

The defences a real room needs (flood control, limits per address,
keepalive, ...) are not here: ``chatroom.defences.DefendedServer`` adds them
by overriding the hooks below, and ``python -m chatroom.server`` runs it.
Hooks, each a public method that a variation may override:

    newcomer(sock, address)  the Member for a socket just accepted
    turned_away(member)      refuse a newcomer (the room is full); True if so
    read_line(member, raw)   the text of one received line, or None to skip it
    command(member, text)    carry out a line that starts with '/'
    announce(text, member)   tell the others that ``member`` joined or left

What the server has to show (connections, messages) goes to ``on_event``:
the logging module by default, or a ``print`` or ``queue.put`` of your own.
Lines go out through each member's ``Outbox``, which never blocks, so one
client that stops reading cannot hold up the others.
"""

import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
import time

from . import cli
from .commands import run_command
from .console import Console
from .flood import BURST_LINES, LINES_PER_SECOND
from .outbox import MAX_BACKLOG_BYTES, wait_for_socket
from .protocol import LineBuffer, LineRejected, clean_text, decode_line, encode_line
from .room import Member, Room

log = logging.getLogger("chatroom.server")

DEFAULT_MAX_CLIENTS = 100
POLL_SECONDS = 0.25  # how long a thread waits before it checks for shutdown
CONSOLE_GRACE_SECONDS = 0.5  # at exit, how long a paused console has to take the last lines
RECV_BYTES = 4096
FLOOD_LIMIT = (BURST_LINES, LINES_PER_SECOND)  # what the command line's server allows
WELCOME = "* Welcome to the chat room, {name}! Type /help for commands."
GOODBYE = "* The server is shutting down. Goodbye!"


class Stopping(threading.Event):
    """The server's "stop now" flag, with a lock that notices are sent under.

    ``set()`` takes the lock, so a notice that found the flag clear is in the
    outboxes before the flag is set, and so before any goodbye: no "* NAME left"
    can come after "Goodbye".
    """

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def set(self):
        with self.lock:
            super().set()


class ChatServer:
    """A chat room over TCP, with one thread per client."""

    def __init__(self, host="127.0.0.1", port=0, *, max_clients=DEFAULT_MAX_CLIENTS,
                 max_backlog=MAX_BACKLOG_BYTES, log_chat=True, on_event=None):
        self.host, self.port = host, port
        self.room = Room(max_clients)
        self.max_backlog = max_backlog
        self.log_chat = log_chat
        self.on_event = on_event or log.info
        self.stopping = Stopping()  # set by stop(): every loop ends soon after
        self._listener = None
        self._acceptor = None
        self._threads = []
        self._stop_deadline = None

    def start(self):
        """Listen, and accept clients in a background thread; return the server.

        When start returns, clients can connect (``open_listener`` makes the
        listening socket), and a thread started with ``self.spawn`` runs
        ``accept_loop``. That thread must notice a stop within POLL_SECONDS
        even when nobody connects, so ``accept`` may not wait longer than that.
        The ``listener`` and ``address`` properties and ``stop`` find the
        socket in ``self._listener`` and the thread in ``self._acceptor``.
        """
        ### BEGIN SOLUTION
        self._listener = open_listener(self.host, self.port)
        self._listener.settimeout(POLL_SECONDS)
        self._acceptor = self.spawn(self.accept_loop, "chatroom-accept")
        return self
        ### END SOLUTION

    @property
    def listener(self):
        """The listening socket (it has a timeout of POLL_SECONDS)."""
        return self._listener

    @property
    def address(self):
        """The (host, port) the server listens on: the real port when started on 0."""
        return self._listener.getsockname()[:2]

    def accept_loop(self):
        """Accept connections until the server stops, and let each one in.

        Runs in its own thread, started by ``start``. For each connection,
        ``newcomer(sock, address)`` makes its Member and ``admit(member)`` lets
        it in (or turns it away). ``self.listener.accept()`` raises
        ``socket.timeout`` every POLL_SECONDS while nobody comes: that is the
        moment to see whether ``self.stopping`` is set, and to stop if so. A
        connection accepted once the server is stopping is closed, not let in.
        Nothing a connection does may end the loop: one that hangs up before it
        is let in (``newcomer`` raises OSError) is closed and forgotten, and a
        failure of ``accept`` itself (out of file descriptors, say) is told to
        ``on_event`` in a line, and accepting goes on after a pause.
        """
        ### BEGIN SOLUTION
        while not self.stopping.is_set():
            try:
                sock, address = self.listener.accept()
            except socket.timeout:
                continue
            except OSError as error:  # out of file descriptors, for one
                self.on_event(f"cannot accept a connection: {error.strerror}")
                self.stopping.wait(POLL_SECONDS)
                continue
            if self.stopping.is_set():  # stop() woke us up, or a newcomer came too late
                sock.close()
                break
            try:
                member = self.newcomer(sock, address)
            except OSError:  # it hung up before we got to it
                sock.close()
                continue
            self.admit(member)
        ### END SOLUTION

    def newcomer(self, sock, address):
        """A ``Member`` for a socket just accepted, named after its address."""
        # Send each line at once: Nagle's algorithm would hold a small line back
        # while the previous one waits for an ACK that the peer may delay 40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        host = plain_host(address[0])
        return Member(sock, (host, address[1]), self.max_backlog,
                      name=self.room.default_name(host))

    def turned_away(self, member):
        """Turn ``member`` away, politely, if the room is full; True if so."""
        if self.room.is_full():  # only the accepting thread adds members
            self.refuse(member, f"the room is full ({self.room.max_members} people)")
            return True
        return False

    def refuse(self, member, why):
        """Tell ``member`` why it cannot come in, and close its connection."""
        member.send_line(f"* Sorry, {why}. Try again later.")
        member.hang_up()
        member.sock.close()
        self.on_event(f"{member.name} turned away: {why}")

    def admit(self, member):
        """Let ``member`` in, with a thread of its own, unless it is turned away.

        ``turned_away(member)`` decides (and tells the member). Otherwise a new
        thread runs ``serve(member, admitted)``, started with ``self.spawn``,
        and ``member`` gets the WELCOME line, then joins the room; ``admitted``
        (a ``threading.Event``) tells the thread when both are done, so that
        no line from the room reaches the member before its welcome. Starting a
        thread can fail (``RuntimeError``: a process or memory limit); then the
        member is refused ("the server cannot take anyone else right now") and
        nothing else happens. (``join`` cannot refuse here, since only this
        thread adds members and ``turned_away`` looked first; should it return
        False all the same, hang the member up, and its thread ends at once.)
        """
        ### BEGIN SOLUTION
        if self.turned_away(member):
            return
        admitted = threading.Event()
        try:
            self.spawn(self.serve, f"chatroom-{member.name}", member, admitted)
        except RuntimeError:  # "can't start new thread"
            self.refuse(member, "the server cannot take anyone else right now")
            return
        try:
            member.send_line(WELCOME.format(name=member.name))
            if not self.room.join(member):
                member.hang_up()
        finally:
            admitted.set()
        ### END SOLUTION

    def serve(self, member, admitted):
        """The whole life of one member, in its own thread: wait until ``admitted``
        is set, tell the console (``on_event``: "NAME connected") and the others
        (``announce``: "* NAME joined"), ``handle`` it until it leaves, then
        ``farewell``. When the server is stopping, the member also gets its
        goodbye (``say_goodbye``) before the farewell. The farewell happens
        however ``handle`` ends, even by an exception: a member is never left
        behind in the room.
        """
        ### BEGIN SOLUTION
        admitted.wait()
        self.on_event(f"{member.name} connected")
        self.announce(f"* {member.name} joined", member)
        try:
            self.handle(member)
        finally:
            if self.stopping.is_set():
                self.say_goodbye(member)
            self.farewell(member)
        ### END SOLUTION

    def handle(self, member):
        """Serve one member until it leaves or the server stops: read what it sends,
        cut it into lines, and act on them with ``handle_lines``.

        Wait for the socket with ``wait_for_socket`` for at most POLL_SECONDS
        at a time, so that the loop sees ``self.stopping`` soon after stop().
        While ``member.outbox.has_backlog()``, wait for the socket to be
        writable too, and then ``member.outbox.flush()``: the member's own
        thread is the one that finishes sending what it could not take at once.
        Read with ``receive(member.sock)``: b"" means the member has gone. Cut
        the bytes into lines with a ``LineBuffer`` of the member's own (a line
        may come in pieces, or several in one recv); a lone b"\r" ends a line
        too, and empty lines (b"\r\n" makes one) are not passed on. Return
        when the member has gone, when its outbox overflowed (it stopped
        reading, and broadcast_lines hung it up), or when ``handle_lines``
        returns False (/quit). Every whole line it sent before it left is acted
        on; bytes after its last line end are not a line, and are dropped.
        """
        ### BEGIN SOLUTION
        lines = LineBuffer()
        while not self.stopping.is_set():
            readable, writable = wait_for_socket(member.sock, POLL_SECONDS,
                                                 writing=member.outbox.has_backlog())
            if writable:
                member.outbox.flush()
            data = receive(member.sock) if readable else None
            if data == b"" or member.outbox.overflowed:
                return
            if data:
                raws = [raw for raw in lines.feed(data.replace(b"\r", b"\n")) if raw != b""]
                if not self.handle_lines(member, raws):
                    return
        ### END SOLUTION

    def handle_lines(self, member, raws):
        """Act on some lines from ``member``, in order; return False when it leaves.

        ``read_line(member, raw)`` gives each line's text, or None or "" for a
        line to skip (too long or not UTF-8: the sender was told; nothing left
        once cleaned: nobody needs telling). A text that
        starts with "/" is a command for ``command(member, text)``, which
        returns False on /quit. Any other text is chat: the others get it as
        ``<name> text``, and the console too (``on_event``) when
        ``self.log_chat``. Chat lines that arrive together go out together, in
        one ``broadcast_lines``: sends are most of a server's work. Order is
        kept: what came before a command reaches the others before the command
        acts (so a /nick renames only the lines after it).
        """
        ### BEGIN SOLUTION
        relay = []
        for raw in raws:
            text = self.read_line(member, raw)
            if not text:
                continue
            if text.startswith("/"):
                self.broadcast_lines(relay, member)  # what came before goes first
                relay = []
                if not self.command(member, text):
                    return False
            else:
                if self.log_chat:
                    self.on_event(f"<{member.name}> {text}")
                relay.append(f"<{member.name}> {text}")
        self.broadcast_lines(relay, member)
        return True
        ### END SOLUTION

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
        """Tell the others that ``member`` joined or left; never once the server stops."""
        with self.stopping.lock:
            if not self.stopping.is_set():
                self.broadcast(text, member)

    def broadcast_lines(self, texts, sender=None):
        """Send some lines to every member except ``sender``, in one send to each.

        Each member gets all of ``texts`` as one piece of bytes (each line
        framed by ``encode_line``) through its outbox, which never waits. A
        member whose outbox refuses (it has gone, or stopped reading) is hung
        up, and the others still get the lines: its own thread sees the
        hang-up and says farewell. Nothing is sent when ``texts`` is empty.
        """
        ### BEGIN SOLUTION
        if not texts:
            return
        data = b"".join(encode_line(text) for text in texts)
        for member in self.room.others(sender):
            if not member.outbox.send(data):
                member.hang_up()
        ### END SOLUTION

    def say_goodbye(self, member):
        """Queue the GOODBYE line after what is queued already, and help it all out
        until stop()'s deadline (``self._stop_deadline``, a ``time.monotonic()``
        time): while the outbox has a backlog and is not broken, wait for the
        socket to be writable (never past the deadline, and at most POLL_SECONDS
        at a time) and flush. A reader too slow for the deadline misses the end.
        """
        ### BEGIN SOLUTION
        member.send_line(GOODBYE)
        while member.outbox.has_backlog() and not member.outbox.broken:
            left = self._stop_deadline - time.monotonic()
            if left <= 0:
                return
            _, writable = wait_for_socket(member.sock, min(left, POLL_SECONDS),
                                          writing=True, reading=False)
            if writable:
                member.outbox.flush()
        ### END SOLUTION

    def farewell(self, member):
        """``member`` has gone: out of the room, its connection shut and its socket
        closed, and the console told: "NAME dropped: it stopped reading (over
        MAX bytes waiting)", MAX being ``self.max_backlog``, when its outbox
        overflowed, else "NAME disconnected".
        The others are told "* NAME left" (``announce``), unless the server is
        stopping: then they are all leaving.
        """
        ### BEGIN SOLUTION
        self.room.leave(member)
        member.hang_up()
        member.sock.close()
        if member.outbox.overflowed:
            self.on_event(f"{member.name} dropped: it stopped reading "
                          f"(over {self.max_backlog} bytes waiting)")
        else:
            self.on_event(f"{member.name} disconnected")
        if not self.stopping.is_set():
            self.announce(f"* {member.name} left", member)
        ### END SOLUTION

    def stop(self, timeout=1.0):
        """Say goodbye to every client, close every socket, and end every thread,
        all within about ``timeout`` seconds; stopping twice, or before start,
        does no harm.

        What must hold: from the moment stop is called, ``self.stopping`` is
        set and nobody new is let in; each member's thread wakes at once, not
        at its next poll (``_wake_acceptor`` and ``stop_reading`` wake threads
        that wait in accept and recv), and sends what is queued for its member,
        then the goodbye (``say_goodbye``), until ``self._stop_deadline``: set
        it before ``self.stopping``, which a thread may see at once, and keep
        min(0.2, timeout / 4) of ``timeout`` for the rest; stop waits for the
        threads, all together within ``timeout``, hangs up any member whose
        thread has not ended by then, and closes the listening socket.
        """
        ### BEGIN SOLUTION
        deadline = time.monotonic() + timeout
        self._stop_deadline = deadline - min(0.2, timeout / 4)
        self.stopping.set()
        if self._acceptor is not None and self._acceptor.is_alive():
            self._wake_acceptor()
            self._acceptor.join(timeout)  # no one new joins from here on
        for member in self.room.members():
            stop_reading(member.sock)  # wakes its thread now, not at its next poll
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for member in self.room.members():
            member.hang_up()  # a thread that has not ended by now is told to, again
        if self._listener is not None:
            self._listener.close()
        ### END SOLUTION

    def _wake_acceptor(self):
        """Connect to ourselves, so that accept() returns now, not at its next timeout."""
        try:
            host, port = self.address
        except OSError:
            return  # closed already: a second stop() has nothing to wake
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        try:
            socket.create_connection((host, port), timeout=POLL_SECONDS).close()
        except OSError:
            pass  # the timeout on accept() ends the loop all the same

    def serve_forever(self):
        """Run until Ctrl-C (or SIGTERM), then stop cleanly."""
        try:
            while not self.stopping.wait(POLL_SECONDS):  # a timeout lets Ctrl-C in
                pass
        except KeyboardInterrupt:
            self.on_event("Ctrl-C: shutting down")
        finally:
            self.stop()

    def spawn(self, target, name, *args):
        """Run ``target(*args)`` in a new daemon thread, which stop() waits for; the thread.

        Raises RuntimeError when no thread can be started (a process or memory limit).
        """
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()  # may raise RuntimeError: then there is no thread to join later
        self._threads.append(thread)
        return thread

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def receive(sock):
    """What a ready socket has for us: b"" once the peer has gone, None if nothing yet.

    The peer has gone when it closed (recv returns b""), reset the connection, or
    stopped answering keepalive probes (a TimeoutError with an errno). Any other
    error, such as a timeout of our own on a live peer or a socket our own code
    closed, is not the peer leaving: it is raised.
    """
    try:
        return sock.recv(RECV_BYTES)
    except BlockingIOError:
        return None
    except (ConnectionResetError, ConnectionAbortedError):
        return b""
    except TimeoutError as error:  # Python 3.10+: socket.timeout too, with no errno
        if error.errno is None:
            raise
        return b""  # ETIMEDOUT: keepalive or TCP_USER_TIMEOUT gave up on a vanished peer


def stop_reading(sock):
    """Shut the receiving side: the thread waiting on ``sock`` wakes up (Linux, macOS)."""
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass  # closed already


def plain_host(host):
    """The client's address as people know it: 10.0.0.5, not ::ffff:10.0.0.5 (an IPv4
    client of a dual-stack server), and without an IPv6 scope such as %eth0."""
    host = host.split("%")[0]
    try:
        mapped = getattr(ipaddress.ip_address(host), "ipv4_mapped", None)  # IPv6 only
    except ValueError:
        return host
    return str(mapped) if mapped else host


def open_listener(host, port):
    """A TCP socket listening on (host, port); IPv6 when the host is an IPv6 address.

    On "::", every IPv6 address, it takes IPv4 clients too where the system
    can (dual stack: Linux, macOS, Windows); they show as ::ffff:10.0.0.5.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    both = host == "::" and socket.has_dualstack_ipv6()
    return socket.create_server((host, port), family=family, backlog=socket.SOMAXCONN,
                                dualstack_ipv6=both)


def main(argv=None, server_class=None, defences=True):
    """The command line: ``python -m chatroom.server [IP] [PORT] [OPTIONS]``.

    It runs ``server_class`` (default ``ChatServer``: the core you wrote) with the
    defences of ``chatroom.defences`` around it, unless ``defences`` is False
    (a server whose single thread must never wait, such as challenge 5's).
    """
    from .defences import defended  # the defences are built on this module

    cli.require_pieces("server", server_class)
    args = cli.server_arguments(argv)
    cli.forgive_unprintable_characters()
    console = Console(sys.stdout)  # the log, printed by a thread that nobody waits for
    cli.raise_open_file_limit()
    options = {"max_clients": args.max_clients, "log_chat": not args.no_chat_log}
    server_class = server_class or ChatServer
    if defences:
        server_class = defended(server_class)
        options.update(max_per_address=args.max_per_address,
                       flood_limit=None if args.no_flood_control else FLOOD_LIMIT)
    server = server_class(args.host, args.port, **options)
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
    close_console(console)
    return 0


def close_console(console):
    """Let the console print what waits; if it is still paused, end the process now."""
    try:
        printed = console.close(CONSOLE_GRACE_SECONDS)
    except KeyboardInterrupt:  # Ctrl-C yet again
        printed = False
    if not printed:
        # The console's thread waits in a write that holds sys.stdout's lock. A
        # normal exit flushes sys.stdout, so it would wait for that lock too: for
        # ever, or until Python gives up with a fatal error. The server has stopped
        # (goodbyes sent, sockets closed): end the process without that cleanup.
        # The log lines still waiting are lost.
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
