"""A line client that the graders and tests trust: a real socket with a timeout.

It splits lines itself and imports nothing from chatroom/, so the pieces it
checks never check themselves.

The server at the other end may be a student's, and hostile: it may send
without end, lines without end, garbage, or one byte at a time just under the
timeout. So every read here is bounded three ways: a line is at most
MAX_LINE bytes, one client takes at most BUDGET bytes in all, and a read's
timeout counts from the call, however the bytes trickle in. Breaking a bound
is the student's failure (an AssertionError with a sentence for them); a
deadline that passes is a socket.timeout, as a silent server's is.

The judge always chooses the timeout (the grading conftest sets the default
socket timeout to 2 s). The kit's own tests, of the kit's own server, may leave
it to TIMEOUT, and then a read may take READ_SECONDS in all: some read long,
slow streams (hundreds of people joining while two chat).
"""

import select
import socket
import time

TIMEOUT = 10.0  # each recv's, when no one chose a timeout: no single recv should come near this
READ_SECONDS = 120.0  # a whole read's, then: the kit's own tests are allowed as much (pyproject)
# The chat room's longest line is 2048 bytes and a name: 32 times that is no line of
# a chat room, and still little to hold.
MAX_LINE = 64 << 10
# The most any test reads on one connection is about 20 MB (a stuck reader that is
# never dropped: test_server.py, the selectors challenge); more is a flood, not kept.
BUDGET = 32 << 20
CHUNK = 64 << 10  # one recv


def readable(sock, seconds):
    """True once ``sock`` has something to read (data, its end, or an error) within ``seconds``."""
    if seconds <= 0:
        return False
    if sock.fileno() < 0:
        return True  # closed: recv says so, as before
    if hasattr(select, "poll"):  # no limit on the descriptor's number, unlike select()
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(seconds * 1000))
    return bool(select.select([sock], [], [], seconds)[0])


def within(seconds):
    """The deadline ``seconds`` from now, on the clock that never jumps."""
    return time.monotonic() + seconds


def left(deadline):
    return deadline - time.monotonic()


def timeout_of(sock):
    """The socket's own timeout, which a read counts from its call (TIMEOUT if it has none)."""
    return sock.gettimeout() or TIMEOUT


class LineClient:
    """Connects to a chat server; sends lines and reads them back one at a time.

    ``received`` counts the bytes taken against ``budget``. Once the server has
    broken a bound, every later read fails with the same sentence.
    """

    # Class defaults too, for subclasses that set up the socket themselves. read_seconds:
    # how long one read may take in all; None, the socket's timeout from the call.
    max_line, budget, received, _failure, read_seconds = MAX_LINE, BUDGET, 0, None, None

    def __init__(self, address, timeout=None, max_line=MAX_LINE, budget=BUDGET):
        """``timeout``: how long one read may take, from its call (and connect, and a send).
        By default, the process's default socket timeout (the judge's); if it has none,
        TIMEOUT for each recv and READ_SECONDS for a read."""
        if timeout is None:
            timeout = socket.getdefaulttimeout()
            if timeout is None:
                timeout, self.read_seconds = TIMEOUT, READ_SECONDS
        self.sock = socket.create_connection(address, timeout=timeout)
        self.max_line, self.budget = max_line, budget
        self._pending = b""
        self._ready = []

    def send(self, text):
        self.sock.sendall(text.encode("utf-8") + b"\n")

    def send_raw(self, data):
        self.sock.sendall(data)  # the socket's timeout bounds the whole sendall

    def deadline(self, timeout=None):
        """When a read that starts now must end: in ``timeout`` seconds, by default the
        client's read_seconds or else the socket's timeout."""
        if timeout is None:
            timeout = self.read_seconds if self.read_seconds is not None else timeout_of(self.sock)
        return within(timeout)

    def read_line(self, timeout=None):
        """The next line, as text, within ``timeout`` seconds of the call (see deadline()):
        else socket.timeout; EOFError at the end; AssertionError when the server breaks
        a bound. No recv waits longer than the socket's timeout."""
        return self._next_line(self.deadline(timeout))

    def _next_line(self, deadline):
        while not self._ready:
            self._take(deadline)
        return self._ready.pop()  # the oldest is last: a recv may hold 65,536 empty lines

    def _take(self, deadline):
        """One recv's worth of lines into ``_ready``, keeping at most ``max_line`` bytes pending."""
        if self._failure:
            raise AssertionError(self._failure)
        if not readable(self.sock, min(left(deadline), timeout_of(self.sock))):
            raise socket.timeout("no whole line came in time")
        data = self.sock.recv(CHUNK)
        if not data:
            raise EOFError("the server closed the connection")
        self.received += len(data)
        if self.received > self.budget:
            self._fail(f"the server sent more than {self.budget:,} bytes to one client")
        *lines, rest = (self._pending + data).split(b"\n")
        if len(rest) > self.max_line or any(len(line) > self.max_line for line in lines):
            self._fail(f"the server sent a line of more than {self.max_line:,} bytes")
        self._pending = rest
        self._ready[:0] = [line.rstrip(b"\r").decode("utf-8", "replace") for line in reversed(lines)]

    def _fail(self, sentence):
        self._failure, self._pending, self._ready = sentence, b"", []
        raise AssertionError(sentence)

    def read_until(self, wanted, limit=100_000, timeout=None):
        """Lines up to and including the first that satisfies ``wanted`` (a str or a test),
        all within ``timeout`` seconds of the call."""
        test = wanted if callable(wanted) else (lambda line: line == wanted)
        deadline = self.deadline(timeout)
        seen = []
        for _ in range(limit):
            seen.append(self._next_line(deadline))
            if test(seen[-1]):
                return seen
        raise AssertionError(f"{wanted!r} not among {limit} lines: {shortened(seen[-5:])}")

    def joined(self):
        """Wait until the server has let this client in and told the room; return the welcome.

        The server sends the welcome, then tells the others "* ... joined". A /who
        answer comes after both, so no late notice of this join reaches a later client.
        """
        welcome = self.read_until(lambda line: line.startswith("* Welcome"))[-1]
        self.send("/who")
        self.read_until(lambda line: line.startswith("* ") and " here: " in line)
        self.name = welcome.partition(", ")[2].partition("! ")[0]  # the name given to us
        return welcome

    def read_to_end(self, limit=100_000, timeout=None):
        """Every line until the server closes the connection, within ``timeout`` seconds."""
        deadline = self.deadline(timeout)
        seen = []
        for _ in range(limit):
            try:
                seen.append(self._next_line(deadline))
            except (EOFError, ConnectionResetError):
                return seen
        raise AssertionError("the server did not close the connection")

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def shortened(lines, width=100):
    """``lines`` for a message: a hostile line may be 64 KiB long."""
    return [line if len(line) <= width else line[:width] + "..." for line in lines]


def receive(sock, size, timeout=None, exact=True):
    """``size`` bytes from a plain socket: fewer if it closes first, or if ``timeout``
    seconds (the socket's own by default) pass from the call. Not ``exact``: with the
    rest of the last recv too, at most CHUNK bytes more."""
    deadline = within(timeout_of(sock) if timeout is None else timeout)
    data = bytearray()
    while len(data) < size and readable(sock, left(deadline)):
        chunk = sock.recv(min(CHUNK, size - len(data)) if exact else CHUNK)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def chat_lines(lines):
    """The relayed messages among ``lines``, without the server's "* " notices."""
    return [line for line in lines if not line.startswith("* ")]


def heard(client, skip=None, limit=100):
    """The next line (past lines that match the regex ``skip``), or what happened instead,
    as a phrase for a message to the student; all within the client's timeout."""
    seconds = timeout_of(client.sock)
    deadline = within(seconds)
    try:
        for _ in range(limit):
            line = client.read_line(timeout=left(deadline))
            if skip is None or not skip.fullmatch(line):
                return repr(line)
        return f"{limit} lines of news, and nothing else"
    except OSError:
        return f"nothing within {seconds:g} s"
    except EOFError:
        return "the connection closed"


def expect(client, wanted, who, after, skip=None):
    """``client`` hears ``wanted`` next, or the assertion says what it heard instead."""
    got = heard(client, skip)
    assert got == repr(wanted), f"after {after}, {who} should get {wanted!r}, got {got}"


def lines_before_who(client):
    """Send /who; return the lines that came before its answer."""
    client.send("/who")
    return client.read_until(lambda line: line.startswith("* ") and " here: " in line)[:-1]
