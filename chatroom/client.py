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
from .protocol import MAX_LINE_BYTES, LineBuffer, clean_text, encode_line

READ_BYTES = 4096
QUIET_SECONDS = 0.3  # show a line the server never ended after this long
WAKE_SECONDS = 0.5  # Windows cannot interrupt select with Ctrl-C; wake up to let it in
GOODBYE_SECONDS = 1.0  # how long to wait for the server's last words when leaving
PAIR_TIMEOUT = 5.0  # a keyboard line that cannot be handed over in this long is lost


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
        self._reader, self._writer = socket.socketpair()
        self._writer.settimeout(PAIR_TIMEOUT)
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
        self.incoming, self.typed = LineBuffer(), LineBuffer()

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
        text = f"* (a line over {MAX_LINE_BYTES} bytes was not shown)"
    else:
        text = clean_text(raw.decode("utf-8", "replace"))
    screen.write(text + "\n")
    screen.flush()


def send_typed(sock, raw, screen):
    """Send one typed line and echo it as ``<You> ...``; False after /quit."""
    if raw is None:
        screen.write(f"* That line is over {MAX_LINE_BYTES} bytes; not sent.\n")
        return True
    text = raw.decode("utf-8", "replace")
    if not text.strip():
        return True
    sock.sendall(encode_line(text))
    if text.strip().lower() == "/quit":
        return False
    if not text.startswith("/"):
        screen.write(f"<You> {clean_text(text)}\n")
        screen.flush()
    return True


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
    lines = LineBuffer()
    deadline = time.monotonic() + GOODBYE_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        data = receive(sock) if ready else b""
        if not data:
            break
        for raw in lines.feed(data):
            show_line(screen, raw)


def main(argv=None):
    """The command line: ``python -m chatroom.client IP [PORT]``."""
    cli.require_pieces("client")
    args = cli.client_arguments(argv)
    cli.forgive_unprintable_characters()
    try:
        sock = socket.create_connection((args.host, args.port), timeout=cli.CONNECT_TIMEOUT)
    except OSError as error:
        cli.fail(cli.explain_connect_error(error, args.ip, args.port))
    except KeyboardInterrupt:  # Ctrl-C while a far address keeps us waiting
        print("* Bye.", flush=True)
        return 0
    with sock:
        print(f"* Connected to {args.ip} port {args.port}. "
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
