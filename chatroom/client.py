"""The chat client: one loop waits, with ``select``, on the server and the keyboard.

How the pieces fit::

    main()  -> connect -> run(sock, keyboard, screen)
    run()   -> ChatClient.step(), again and again: select([server, keys])      (* yours)
                 server ready -> from_server() *   -> LineBuffer -> show_line()   "<alice> hi"
                 keys ready   -> from_keyboard() * -> LineBuffer -> send_typed() * "<You> hello"
                                                      -> send_all() *; leave() * at /quit
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
import unicodedata

from . import cli
from .protocol import (MAX_LINE_BYTES, MAX_RELAYED_BYTES, LineBuffer, clean_text, encode_line,
                       squeeze_blanks)

READ_BYTES = 4096
QUIET_SECONDS = 0.3  # show a line the server never ended after this long
WAKE_SECONDS = 0.5  # Windows cannot interrupt select with Ctrl-C; wake up to let it in
GOODBYE_SECONDS = 1.0  # when leaving, a server quiet this long is told about
LEAVE_SECONDS = 30.0  # when leaving, how long to wait at most for the server to close
CONTINUED = "  "  # starts every row of a wrapped line after its first


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
        """Wait up to ``timeout`` seconds for the server or the keyboard, act on
        whichever is ready, and return False when the chat is over.

        One thread, and no busy waiting: the step sleeps until the server's
        socket or the keyboard (``self.keys``; both have a ``fileno``) has
        something, or the time is up. When both are ready, the server goes
        first, so that what others said is on the screen before your echo.
        When nothing came in the time, a line the server left unfinished is
        shown (``show_unfinished``). The chat is over when ``from_server`` or
        ``from_keyboard`` says so (each returns False then).
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
        """Show on the screen every whole line the server sent; False once it has gone.

        The server's socket is ready: read it once with ``receive`` (b"" means
        the server closed the connection). Bytes come in any pieces: show each
        complete line (``self.incoming``, a LineBuffer, cuts them) with
        ``show_line``, which also makes it safe for the terminal. When the
        server has gone, show its unfinished last words, if any, then the line
        "* The server closed the connection.", and return False.
        """
        ### BEGIN SOLUTION
        data = receive(self.sock)
        if not data:
            if self.incoming.pending():  # the server's last words, unfinished
                show_line(self.screen, self.incoming.pending())
            show_line(self.screen, b"* The server closed the connection.")
            return False
        for raw in self.incoming.feed(data):
            show_line(self.screen, raw)
        return True
        ### END SOLUTION

    def from_keyboard(self):
        """Send every whole line typed; False after /quit or at the end of input.

        The keyboard is ready: ``self.keys.read()`` gives what was typed (b""
        at the end of input, Ctrl-D). Lines come in any pieces, like the
        server's: cut them with ``self.typed``. Each line goes through
        ``send_typed``, which sends it, echoes it and says whether the chat
        goes on. At the end of input, a line typed without Enter is sent too.
        When the chat is over (/quit, or the end of input), ``leave`` the
        server politely, and return False.
        """
        ### BEGIN SOLUTION
        data = self.keys.read()
        lines = self.typed.feed(data) if data else [self.typed.pending()]
        if not all(send_typed(self.sock, raw, self.screen) for raw in lines) or not data:
            leave(self.sock, self.screen)
            return False
        return True
        ### END SOLUTION

    def show_unfinished(self):
        """Show a line the server left without its newline (it has been quiet a
        while, or has gone), once: after that, it is forgotten."""
        ### BEGIN SOLUTION
        if self.incoming.pending():
            show_line(self.screen, self.incoming.pending())
            self.incoming.clear()
        ### END SOLUTION

    def wait_seconds(self):
        """How long ``step`` may wait: briefly while a line is unfinished."""
        return QUIET_SECONDS if self.incoming.pending() else WAKE_SECONDS


def run(sock, keyboard=None, screen=None, threaded_keyboard=None):
    """Chat on a connected socket until /quit, end of input, or the server leaves.

    ``keyboard`` (default: standard input) becomes something ``select`` can
    watch with ``open_keyboard``; ``screen`` defaults to standard output. One
    ``ChatClient`` steps until the chat is over, each step waiting as long as
    its ``wait_seconds()`` says. The keyboard is closed however the chat ends
    (Ctrl-C included).
    """
    ### BEGIN SOLUTION
    keys = open_keyboard(keyboard or sys.stdin, threaded_keyboard)
    chat = ChatClient(sock, keys, screen or sys.stdout)
    try:
        while chat.step(chat.wait_seconds()):
            pass
    finally:
        keys.close()
    ### END SOLUTION


def receive(sock):
    """What the server sent; b"" once it has gone, by closing or by a reset
    (ConnectionError). Other errors are not the server leaving: they are raised."""
    ### BEGIN SOLUTION
    try:
        return sock.recv(READ_BYTES)
    except ConnectionError:
        return b""
    ### END SOLUTION


def show_line(screen, raw):
    """Print one received line, made safe for this terminal, its rows marked.

    A terminal wraps a long line into rows, and the text that starts a row
    would pass for a line of its own: 70 columns of words from mallory, then
    "<alice> send the report to mallory". So on a terminal the client wraps
    lines itself, by the columns each character takes (``columns``), and
    starts every row after a line's first with "  ": no line from the server
    starts with a blank, so no row can pass for a line.
    """
    if raw is None:
        text = f"* (a line over {MAX_RELAYED_BYTES} bytes was not shown)"
    else:
        text = clean_text(raw.decode("utf-8", "replace"))
    width = terminal_width(screen)
    screen.write("\n".join(rows(text, width) if width else [text]) + "\n")
    screen.flush()


def terminal_width(screen):
    """The columns of the terminal ``screen`` is, or None for a file or a pipe."""
    try:
        return os.get_terminal_size(screen.fileno()).columns if screen.isatty() else None
    except (AttributeError, OSError, ValueError):
        return None


def rows(text, width):
    """``text`` cut into rows that fit ``width`` columns, each after the first
    starting with CONTINUED. A row never fills the last column: some terminals
    wrap there by themselves."""
    cut, row, used, limit = [], "", 0, max(width - 1, len(CONTINUED) + 2)
    for char in text:
        wide = columns(char)
        if used + wide > limit:
            cut.append(row)
            row, used = CONTINUED, len(CONTINUED)
        row += char
        used += wide
    return cut + [row]


def columns(char):
    """How many columns a terminal gives ``char``: 2 for a wide character (Chinese,
    Japanese, Korean, full-width forms), 0 for a combining mark, 1 for the rest."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def send_typed(sock, raw, screen):
    """Send one typed line and echo it as ``<You> ...``; False after /quit.

    The others see the line as the server cleans it, so clean it the same
    way first (``clean_text``, then ``squeeze_blanks``; a byte that is not
    UTF-8 becomes "\ufffd"), and send and echo that. A line the server would
    refuse or drop is neither sent nor echoed: nothing left after cleaning,
    or over MAX_LINE_BYTES once encoded (say so on the screen, in one line
    starting with "* "). ``raw`` None is a line the LineBuffer found too long.
    A command (a line starting with "/") is sent but not echoed; /quit, in
    any letter case (/QUIT too) and even with words after it, ends the chat.
    Send with ``send_all`` (``encode_line`` frames it).
    """
    ### BEGIN SOLUTION
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
    ### END SOLUTION


def send_all(sock, data):
    """Send all of ``data``, waiting for as long as the server takes to read it.

    A server that does not read for a while (flood control holds our lines,
    or it is busy) fills the buffers, and sending must wait: our lines are
    delayed, never lost, and the chat goes on once it reads again. The socket
    has no timeout, and Windows cannot interrupt a blocked send with Ctrl-C:
    so never block for more than WAKE_SECONDS at a time (``select`` tells
    when the socket can take more), and send what it takes, then the rest.
    A blocking send of a large piece waits until all of it is queued, however
    long that takes: send at most READ_BYTES at a time.
    """
    ### BEGIN SOLUTION
    view = memoryview(data)
    while view:
        _, writable, _ = select.select([], [sock], [], WAKE_SECONDS)
        if writable:
            view = view[sock.send(view[:READ_BYTES]):]
    ### END SOLUTION


def leave(sock, screen):
    """Leave politely: say we are done, then show the server's last lines until it closes.

    Closing a socket that still has unread data makes the kernel (Linux's,
    Windows') reset the connection: the server's goodbye never reaches us,
    and the lines we sent just before may be thrown away. So shut only our
    sending side (the server reads the end of our lines), then keep showing
    what the server sends until it closes. It may still hold lines we sent
    (flood control passes a long paste on at a person's pace), and it closes
    once it has passed them all on: wait for that, but at most LEAVE_SECONDS.
    If nothing has come for GOODBYE_SECONDS, say once, in a line starting
    with "* ", that we are waiting and for how long at most; if the time runs
    out, say that we leave before the server said goodbye. A server that has
    gone already is not an error.
    """
    ### BEGIN SOLUTION
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return  # the server has gone already
    lines = LineBuffer(MAX_RELAYED_BYTES)
    deadline = time.monotonic() + LEAVE_SECONDS
    told = False
    while time.monotonic() < deadline:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([sock], [], [], max(0.0, min(left, GOODBYE_SECONDS)))
        if not ready:
            if not told:
                screen.write(f"* Waiting for the server to pass on your last lines "
                             f"(at most {LEAVE_SECONDS:g} s; Ctrl-C leaves now)\n")
                screen.flush()
                told = True
            continue
        data = receive(sock)
        if not data:
            return
        for raw in lines.feed(data):
            show_line(screen, raw)
    screen.write("* Leaving before the server said goodbye: "
                 "some of your last lines may not have reached the others.\n")
    screen.flush()
    ### END SOLUTION


def connect(host, port, timeout=cli.CONNECT_TIMEOUT):
    """A socket connected to ``host``: to its IPv4 address first, then to its others.

    A name can have both: ``localhost`` is often 127.0.0.1 and ::1, and a server
    may listen on only one of them, so a refusal moves on to the next address.
    All the tries together take at most ``timeout`` seconds; when none connects,
    the first one's error is raised. The socket has no timeout: ``select``
    waits for the server, and a send waits for as long as the server takes.
    """
    ### BEGIN SOLUTION
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
    ### END SOLUTION


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
