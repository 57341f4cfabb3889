"""The chat server: one thread accepts connections, and one thread serves each client.

How the pieces fit::

    ChatServer.start()  -> accept thread: _accept_loop()
                              for each connection: newcomer(), turned_away()? (room or address
                              full), welcome, Room.join(), then a thread running
    ChatServer.handle(member)  "joined"; recv -> LineBuffer -> flood control (TokenBucket)
                              -> handle_lines() -> broadcast_lines()
    ChatServer.stop()   -> each thread sends what is queued, then the goodbye; sockets shut

A variation of the server overrides ``handle``, the per-client work, and
keeps the rest. Lines go out through each member's ``Outbox``, which never
blocks, so one client that stops reading cannot hold up the others.
What the server has to show (connections, messages) goes to ``on_event``:
the logging module by default, or a ``print`` or ``queue.put`` of your own.

Run it with ``python -m chatroom.server [IP] [PORT]``.
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
from .flood import BURST_LINES, LINES_PER_SECOND, TokenBucket
from .outbox import MAX_BACKLOG_BYTES, wait_for_socket
from .protocol import (LineBuffer, LineRejected, clean_text, decode_line, encode_line,
                       squeeze_blanks)
from .room import Member, Room

log = logging.getLogger("chatroom.server")

DEFAULT_MAX_CLIENTS = 100
DEFAULT_MAX_PER_ADDRESS = 10  # connections from one address (IRC's "clone limit")
ANNOUNCE_UP_TO = 100  # joins and leaves are announced in a room of at most this many people
KEEPALIVE = (60, 10, 5)  # probe a silent peer after 60 s, every 10 s; gone after 5 unanswered
POLL_SECONDS = 0.25  # how long a thread waits before it checks for shutdown
CONSOLE_GRACE_SECONDS = 0.5  # at exit, how long a paused console has to take the last lines
RECV_BYTES = 4096
WELCOME = "* Welcome to the chat room, {name}! Type /help for commands."
GOODBYE = "* The server is shutting down. Goodbye!"
SLOW_DOWN = ("* Slow down: at most {rate:g} lines a second after a burst of {burst}. "
             "Your lines are delayed, not lost.")


class ChatServer:
    """A chat room over TCP, with one thread per client.

    ``flood_limit`` is (burst, lines a second) for each member, or None for
    no limit; ``keepalive`` is (idle, interval, probes) in seconds, or None.
    """

    def __init__(self, host="127.0.0.1", port=0, *, max_clients=DEFAULT_MAX_CLIENTS,
                 max_per_address=DEFAULT_MAX_PER_ADDRESS, max_backlog=MAX_BACKLOG_BYTES,
                 flood_limit=(BURST_LINES, LINES_PER_SECOND), keepalive=KEEPALIVE,
                 log_chat=True, on_event=None):
        self.host, self.port = host, port
        self.room = Room(max_clients)
        self.max_per_address = max_per_address
        self.max_backlog = max_backlog
        self.flood_limit = flood_limit
        self.keepalive = keepalive
        self.log_chat = log_chat
        self.on_event = on_event or log.info
        self._listener = None
        self._acceptor = None
        self._threads = []
        self._stopping = threading.Event()
        self._stop_deadline = None

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
            try:
                member = self.newcomer(sock, address)
            except OSError:  # it hung up before we got to it
                sock.close()
                continue
            self._admit(member)

    def newcomer(self, sock, address):
        """A ``Member`` for a socket just accepted, named after its address."""
        # Send each line at once: Nagle's algorithm would hold a small line back
        # while the previous one waits for an ACK that the peer may delay 40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.keepalive:
            keep_alive(sock, *self.keepalive)
        host = plain_host(address[0])
        return Member(sock, (host, address[1]), self.max_backlog,
                      name=self.room.default_name(host))

    def turned_away(self, member):
        """Turn ``member`` away, politely, if the room or its address is full; True if so."""
        if self.room.is_full():  # only this thread adds members: it cannot fill up meanwhile
            why = f"the room is full ({self.room.max_members} people)"
        elif self._from_same_address(member) >= self.max_per_address:
            why = (f"{self.max_per_address} people are connected from your address "
                   f"({member.address[0]}) already")
        else:
            return False
        member.send_line(f"* Sorry, {why}. Try again later.")
        member.hang_up()
        member.sock.close()
        self.on_event(f"{member.name} turned away: {why}")
        return True

    def _from_same_address(self, member):
        key = address_key(member.address[0])
        return sum(1 for other in self.room.members() if address_key(other.address[0]) == key)

    def _admit(self, member):
        if self.turned_away(member):
            return
        # The thread starts first, since starting may fail; it waits until the member is in.
        admitted = threading.Event()
        try:
            self._spawn(self._serve, f"chatroom-{member.name}", member, admitted)
        except RuntimeError as error:  # "can't start new thread": a process or memory limit
            member.send_line("* Sorry, the server cannot take anyone else right now. "
                             "Try again later.")
            member.hang_up()
            member.sock.close()
            self.on_event(f"{member.name} turned away: {error}")
            return
        try:
            # The welcome goes out before the member is in the room, where others' lines reach it.
            member.send_line(WELCOME.format(name=member.name))
            self.room.join(member)
        finally:
            admitted.set()

    def _serve(self, member, admitted):
        admitted.wait()
        try:
            self.handle(member)
        finally:
            if self._stopping.is_set():
                self._say_goodbye(member)
            self._farewell(member)

    def handle(self, member):
        """Serve one client until it leaves: announce it, then act on each line it sends.

        Lines wait in ``held`` while flood control holds them back. Meanwhile
        nothing more is read from this client, so TCP slows its sending too.
        """
        self.on_event(f"{member.name} connected")
        self.announce(f"* {member.name} joined", member)
        lines, held = LineBuffer(), []
        bucket = TokenBucket(*self.flood_limit) if self.flood_limit else None
        while not self._stopping.is_set():  # until the client leaves, or the server stops
            if held:
                ready = bucket.take(len(held)) if bucket else len(held)
                if ready:
                    if not self.handle_lines(member, held[:ready]):
                        return
                    del held[:ready]
                    continue
                self._slow_down(member)
            pause = min(POLL_SECONDS, bucket.wait_time()) if held else POLL_SECONDS
            readable, writable = wait_for_socket(member.sock, pause, reading=not held,
                                                 writing=member.outbox.has_backlog())
            if writable:
                member.outbox.flush()
            data = receive(member.sock) if readable else None
            if data == b"" or member.outbox.broken:
                return
            if data:
                # A lone CR ends a line too (old Macs, some Telnet clients): the
                # empty lines this makes of CR LF are dropped.
                held += [raw for raw in lines.feed(data.replace(b"\r", b"\n")) if raw != b""]

    def _slow_down(self, member):
        """Tell a member, the first time, that flood control holds its lines back."""
        if not getattr(member, "slowed", False):
            member.slowed = True
            burst, rate = self.flood_limit
            member.send_line(SLOW_DOWN.format(burst=burst, rate=rate))
            self.on_event(f"{member.name} is flooding: its lines are delayed")

    def handle_lines(self, member, raws):
        """Act on some lines from ``member``; return False when it leaves.

        Chat lines that arrived together are relayed together, in one send to
        each reader instead of one per line: sends are most of the server's work.
        """
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

    def command(self, member, line):
        """Carry out a line that starts with '/'; return False when the member leaves."""
        return run_command(self, member, line)

    def read_line(self, member, raw):
        """The clean text of one line, or None if it is refused (and the sender told why).

        Runs of blanks become one space, so that padding cannot push text to
        the start of a terminal's next row, where it would pass for a line.
        """
        try:
            return squeeze_blanks(clean_text(decode_line(raw)))
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

    def _say_goodbye(self, member):
        """Send the goodbye after what is queued, and give both until stop()'s deadline."""
        member.send_line(GOODBYE)
        while member.outbox.has_backlog() and not member.outbox.broken:
            left = self._stop_deadline - time.monotonic()
            if left <= 0:
                return
            _, writable = wait_for_socket(member.sock, min(left, POLL_SECONDS),
                                          writing=True, reading=False)
            if writable:
                member.outbox.flush()

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
        """Say goodbye to every client, close every socket, and end every thread.

        Each client's own thread sends the goodbye after the lines queued for
        it, and has until ``timeout`` (minus a little, to close) to get them out.
        """
        deadline = time.monotonic() + timeout
        self._stop_deadline = deadline - min(0.2, timeout / 4)
        self._stopping.set()
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
        thread.start()  # may raise RuntimeError: then there is no thread to join later
        self._threads.append(thread)
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
    except OSError:  # reset by the peer, timed out by keepalive, or shut down by stop()
        return b""


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


def address_key(host):
    """What counts as one address for ``max_per_address``: an IPv4 address, or an
    IPv6 /64 network, which is what one home or one machine usually gets."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network((address, 64), strict=False))
    return host


def keep_alive(sock, idle, interval, probes):
    """Have the OS probe a silent peer, so that a vanished machine is noticed.

    A machine that loses power or its network sends no FIN and no RST: without
    probes, a quiet connection to it stays open for ever. After ``idle``
    seconds of silence the OS sends a probe every ``interval`` seconds, and
    gives up after ``probes`` unanswered ones: the next recv fails.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    # Linux, Windows 10 (1709) and newer; macOS calls the idle time TCP_KEEPALIVE.
    idle_option = getattr(socket, "TCP_KEEPIDLE", getattr(socket, "TCP_KEEPALIVE", None))
    options = [(idle_option, idle), (getattr(socket, "TCP_KEEPINTVL", None), interval),
               (getattr(socket, "TCP_KEEPCNT", None), probes),
               # Linux: data that is never acknowledged counts too, not only silence.
               (getattr(socket, "TCP_USER_TIMEOUT", None), (idle + interval * probes) * 1000)]
    if idle_option is None and hasattr(socket, "SIO_KEEPALIVE_VALS"):  # older Windows
        sock.ioctl(socket.SIO_KEEPALIVE_VALS, (1, idle * 1000, interval * 1000))
    for option, value in options:
        if option is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, option, int(value))
            except OSError:
                pass  # an older system: its own, longer timers apply


def open_listener(host, port):
    """A TCP socket listening on (host, port); IPv6 when the host is an IPv6 address.

    On "::", every IPv6 address, it takes IPv4 clients too where the system
    can (dual stack: Linux, macOS, Windows); they show as ::ffff:10.0.0.5.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    both = host == "::" and socket.has_dualstack_ipv6()
    return socket.create_server((host, port), family=family, backlog=socket.SOMAXCONN,
                                dualstack_ipv6=both)


def main(argv=None, server_class=None):
    """The command line: ``python -m chatroom.server [IP] [PORT] [OPTIONS]``.

    ``server_class`` runs a variation of ``ChatServer`` with the same command line.
    """
    cli.require_pieces("server", server_class)
    args = cli.server_arguments(argv)
    cli.forgive_unprintable_characters()
    console = Console(sys.stdout)  # the log, printed by a thread that nobody waits for
    cli.raise_open_file_limit()
    server = (server_class or ChatServer)(args.host, args.port, max_clients=args.max_clients,
                                          max_per_address=args.max_per_address,
                                          log_chat=not args.no_chat_log,
                                          flood_limit=None if args.no_flood_control
                                          else (BURST_LINES, LINES_PER_SECOND))
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
