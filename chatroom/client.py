"""The chat client: one loop waits, with ``select``, on the server and the keyboard.

How the pieces fit::

    main()  -> connect -> run(sock, keyboard, screen)
    run()      select([server, keys])
                 server ready -> LineBuffer -> show_line()       "<alice> hi"
                 keys ready   -> LineBuffer -> send_typed()      "<You> hello"
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


def run(sock, keyboard=None, screen=None, threaded_keyboard=None):
    """Chat on a connected socket until /quit, end of input, or the server leaves."""
    screen = screen or sys.stdout
    keys = open_keyboard(keyboard or sys.stdin, threaded_keyboard)
    incoming, typed = LineBuffer(), LineBuffer()
    try:
        while True:
            wait = QUIET_SECONDS if incoming.pending() else WAKE_SECONDS
            ready, _, _ = select.select([sock, keys], [], [], wait)
            if not ready and incoming.pending():
                show_line(screen, incoming.pending())
                incoming.clear()
            if sock in ready:
                data = receive(sock)
                if not data:
                    if incoming.pending():  # the server's last words, unfinished
                        show_line(screen, incoming.pending())
                    show_line(screen, b"* The server closed the connection.")
                    return
                for raw in incoming.feed(data):
                    show_line(screen, raw)
            if keys in ready:
                data = keys.read()
                lines = typed.feed(data) if data else [typed.pending()]
                if not all(send_typed(sock, raw, screen) for raw in lines) or not data:
                    leave(sock, screen)
                    return
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
    connection, which can throw away lines we sent just before.
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
