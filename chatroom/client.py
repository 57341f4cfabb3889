"""The chat client: one loop waits, with ``select``, on the server and the keyboard.

How the pieces fit::

    main()  -> connect -> run(sock, keyboard, screen)
    run()   -> ChatClient.step(), again and again: select([server, keys])
                 server ready -> from_server()   -> LineBuffer -> show_line()   "<alice> hi"
                 keys ready   -> from_keyboard() -> LineBuffer -> send_typed()  "<You> hello"
               until /quit, end of input (Ctrl-D), Ctrl-C, or the server leaves

On Linux and macOS ``select`` can watch standard input itself
(``StdinKeyboard``). Windows' ``select`` takes only sockets, so there a
thread reads the keyboard and passes each line through a socket pair that
``select`` can watch (``ThreadKeyboard``). The loop is the same on both.

Run it with ``python -m chatroom.client IP [PORT]``.
"""

import os
import select
import socket
import sys
import threading
import time

from . import cli
from .protocol import (MAX_LINE_BYTES, MAX_RELAYED_BYTES, LineBuffer, clean_text, encode_line,
                       squeeze_blanks)

READ_BYTES = 4096
QUIET_SECONDS = 0.3  # show a line the server never ended after this long
WAKE_SECONDS = 0.5  # Windows cannot interrupt select with Ctrl-C; wake up to let it in
GOODBYE_SECONDS = 1.0  # how long to wait for the server's last words when leaving


class StdinKeyboard:
    """The keyboard on Linux and macOS: ``select`` watches standard input directly."""

    def __init__(self, stream):
        self._fd = stream.fileno()

    def fileno(self):
        return self._fd

    def read(self):
        # os.read, not readline: a buffered reader could swallow lines that
        # select would then never report.
        return os.read(self._fd, READ_BYTES)

    def close(self):
        pass  # standard input belongs to the caller


class ThreadKeyboard:
    """The keyboard where ``select`` takes only sockets: a thread relays it."""

    def __init__(self, stream):
        if hasattr(stream, "reconfigure"):
            # A byte that is not text in the keyboard's encoding becomes "�", as on
            # the select path; a strict decoder would end this thread, and the typing.
            stream.reconfigure(errors="replace")
        # No timeout on the pair: while a server does not read, the chat loop does not
        # read the pair either, and the thread waits with it instead of losing lines.
        self._reader, self._writer = socket.socketpair()
        thread = threading.Thread(target=self._copy, args=(stream,),
                                  name="chatroom-keyboard", daemon=True)
        thread.start()

    def _copy(self, stream):
        try:
            for line in iter(stream.readline, ""):
                self._writer.sendall(line.encode("utf-8", "replace"))
            self._writer.shutdown(socket.SHUT_WR)  # end of input
        except (OSError, ValueError):
            pass  # the chat has ended and closed the pair, or the stream was closed

    def fileno(self):
        return self._reader.fileno()

    def read(self):
        return self._reader.recv(READ_BYTES)

    def close(self):
        self._reader.close()
        self._writer.close()


def open_keyboard(stream, threaded=None):
    """Wrap ``stream`` so that ``select`` can watch it next to the server's socket.

    ``threaded=None`` picks the thread on Windows, for streams without a file
    descriptor (such as ``io.StringIO``), and when CHATROOM_KEYBOARD=thread.
    """
    if threaded is None:
        threaded = (sys.platform == "win32" or os.environ.get("CHATROOM_KEYBOARD") == "thread"
                    or not _has_fileno(stream))
    return ThreadKeyboard(stream) if threaded else StdinKeyboard(stream)


def _has_fileno(stream):
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


class ChatClient:
    """One chat session: the server's socket, the keyboard and the screen."""

    def __init__(self, sock, keys, screen):
        self.sock, self.keys, self.screen = sock, keys, screen
        # The server relays a line of up to MAX_LINE_BYTES with "<name> " before it.
        self.incoming, self.typed = LineBuffer(MAX_RELAYED_BYTES), LineBuffer(MAX_LINE_BYTES)

    def step(self, timeout):
        """Wait up to ``timeout`` seconds for the server or the keyboard, and act
        on what is ready; return False when the chat is over.

        Wait with ``select.select`` on both ``self.sock`` and ``self.keys``.
        Nothing ready: ``show_unfinished()``. The server ready:
        ``from_server()``. The keyboard ready: ``from_keyboard()``. Each of
        those returns False when the chat is over; the server goes first.
        """
        ### BEGIN SOLUTION
        ready, _, _ = select.select([self.sock, self.keys], [], [], timeout)
        if not ready:
            self.show_unfinished()
        if self.sock in ready and not self.from_server():
            return False
        if self.keys in ready and not self.from_keyboard():
            return False
        return True
        ### END SOLUTION

    def from_server(self):
        """Show the lines the server sent; False once it has closed the connection."""
        data = receive(self.sock)
        if not data:
            if self.incoming.pending():  # the server's last words, unfinished
                show_line(self.screen, self.incoming.pending())
            show_line(self.screen, b"* The server closed the connection.")
            return False
        for raw in self.incoming.feed(data):
            show_line(self.screen, raw)
        return True

    def from_keyboard(self):
        """Send the lines typed; False after /quit or at the end of input (Ctrl-D)."""
        data = self.keys.read()
        lines = self.typed.feed(data) if data else [self.typed.pending()]
        if not all(send_typed(self.sock, raw, self.screen) for raw in lines) or not data:
            leave(self.sock, self.screen)
            return False
        return True

    def show_unfinished(self):
        """Show a line the server left without its newline, once it has been quiet a while."""
        if self.incoming.pending():
            show_line(self.screen, self.incoming.pending())
            self.incoming.clear()

    def wait_seconds(self):
        """How long ``step`` may wait: briefly while a line is unfinished."""
        return QUIET_SECONDS if self.incoming.pending() else WAKE_SECONDS


def run(sock, keyboard=None, screen=None, threaded_keyboard=None):
    """Chat on a connected socket until /quit, end of input, or the server leaves."""
    keys = open_keyboard(keyboard or sys.stdin, threaded_keyboard)
    chat = ChatClient(sock, keys, screen or sys.stdout)
    try:
        while chat.step(chat.wait_seconds()):
            pass
    finally:
        keys.close()


def receive(sock):
    """What the server sent; b"" once it has gone."""
    try:
        return sock.recv(READ_BYTES)
    except ConnectionError:
        return b""


def show_line(screen, raw):
    """Print one received line, made safe for this terminal."""
    if raw is None:
        text = f"* (a line over {MAX_RELAYED_BYTES} bytes was not shown)"
    else:
        text = clean_text(raw.decode("utf-8", "replace"))
    screen.write(text + "\n")
    screen.flush()


def send_typed(sock, raw, screen):
    """Send one typed line and echo it as ``<You> ...``; False after /quit.

    The line is cleaned as the server cleans it, so the echo is what the others
    see, and a line the server would drop or refuse is not sent and not echoed.
    A byte that is not UTF-8 becomes "�".
    """
    text = None if raw is None else squeeze_blanks(clean_text(raw.decode("utf-8", "replace")))
    if text is None or len(text.encode("utf-8")) > MAX_LINE_BYTES:
        screen.write(f"* That line is over {MAX_LINE_BYTES} bytes; not sent.\n")
        return True
    if not text:
        return True  # blank, or nothing but control characters
    send_all(sock, encode_line(text))
    if text.startswith("/"):
        return text.split(" ")[0].lower() != "/quit"  # as the server reads a command
    screen.write(f"<You> {text}\n")
    screen.flush()
    return True


def send_all(sock, data):
    """``sock.sendall(data)``, waiting for as long as the server takes to read.

    A server that does not read for a while (flood control holds our lines, or
    it is busy) fills the buffers, and the send waits: our lines are delayed,
    never lost, and the chat goes on once it reads again. The wait is cut in
    slices because Windows cannot interrupt a blocked send with Ctrl-C.
    """
    view = memoryview(data)
    while view:
        _, writable, _ = select.select([], [sock], [], WAKE_SECONDS)
        if writable:
            view = view[sock.send(view):]


def leave(sock, screen):
    """Close our side, then show the server's last lines until it closes too.

    Closing a socket that still has unread data makes the kernel reset the
    connection: the server's goodbye never reaches us, and some systems also
    throw away the lines we sent just before.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return  # the server has gone already
    lines = LineBuffer(MAX_RELAYED_BYTES)
    deadline = time.monotonic() + GOODBYE_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        data = receive(sock) if ready else b""
        if not data:
            break
        for raw in lines.feed(data):
            show_line(screen, raw)


def connect(host, port, timeout=cli.CONNECT_TIMEOUT):
    """A socket connected to ``host``: to its IPv4 address first, then to its others.

    A name can have both: ``localhost`` is often 127.0.0.1 and ::1, and a server
    may listen on only one of them, so a refusal moves on to the next address.
    All the tries together take at most ``timeout`` seconds; when none connects,
    the first one's error is raised. The socket has no timeout: ``select``
    waits for the server, and a send waits for as long as the server takes.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    infos.sort(key=lambda info: info[0] != socket.AF_INET)  # as cli.resolve() prefers
    deadline = time.monotonic() + timeout
    errors = []
    for family, kind, protocol, _, address in infos:  # the address keeps an IPv6 scope
        left = deadline - time.monotonic()
        if errors and left <= 0:
            break
        sock = socket.socket(family, kind, protocol)
        try:
            sock.settimeout(left)
            sock.connect(address)
        except OSError as error:
            sock.close()
            errors.append(error)
            continue
        sock.settimeout(None)
        return sock
    raise errors[0]


def main(argv=None):
    """The command line: ``python -m chatroom.client IP [PORT]``."""
    cli.require_pieces("client")
    args = cli.client_arguments(argv)
    cli.forgive_unprintable_characters()
    try:
        sock = connect(args.ip, args.port)
    except OSError as error:
        cli.fail(cli.explain_connect_error(error, args.ip, args.port))
    except KeyboardInterrupt:  # Ctrl-C while a far address keeps us waiting
        print("* Bye.", flush=True)
        return 0
    with sock:
        address = sock.getpeername()[0]
        where = args.ip if address == args.ip.split("%")[0] else f"{args.ip} ({address})"
        print(f"* Connected to {where} port {args.port}. "
              "Leave with /quit, Ctrl-D or Ctrl-C.", flush=True)
        try:
            run(sock)
        except KeyboardInterrupt:
            print("\n* Bye.", flush=True)
        except OSError as error:
            cli.fail(f"lost the connection to the server: {error.strerror or error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
