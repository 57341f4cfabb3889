"""A line client that the graders and tests trust: a real socket with a timeout.

It splits lines itself and imports nothing from chatroom/, so the pieces it
checks never check themselves.
"""

import socket

TIMEOUT = 10.0  # no single read should come near this


class LineClient:
    """Connects to a chat server; sends lines and reads them back one at a time."""

    def __init__(self, address, timeout=TIMEOUT):
        self.sock = socket.create_connection(address, timeout=timeout)
        self._pending = b""
        self._ready = []

    def send(self, text):
        self.sock.sendall(text.encode("utf-8") + b"\n")

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_line(self):
        """The next line, as text; raises socket.timeout if none comes, EOFError at the end."""
        while not self._ready:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the server closed the connection")
            *lines, self._pending = (self._pending + data).split(b"\n")
            self._ready += [line.rstrip(b"\r").decode("utf-8", "replace") for line in lines]
        return self._ready.pop(0)

    def read_until(self, wanted, limit=100_000):
        """Lines up to and including the first that satisfies ``wanted`` (a str or a test)."""
        test = wanted if callable(wanted) else (lambda line: line == wanted)
        seen = []
        for _ in range(limit):
            seen.append(self.read_line())
            if test(seen[-1]):
                return seen
        raise AssertionError(f"{wanted!r} not among {limit} lines: {seen[-5:]}")

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

    def read_to_end(self, limit=100_000):
        """Every line until the server closes the connection."""
        seen = []
        for _ in range(limit):
            try:
                seen.append(self.read_line())
            except (EOFError, ConnectionResetError):
                return seen
        raise AssertionError("the server did not close the connection")

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def chat_lines(lines):
    """The relayed messages among ``lines``, without the server's "* " notices."""
    return [line for line in lines if not line.startswith("* ")]


def heard(client, skip=None, limit=100):
    """The next line (past lines that match the regex ``skip``), or what happened instead,
    as a phrase for a message to the student."""
    try:
        for _ in range(limit):
            line = client.read_line()
            if skip is None or not skip.fullmatch(line):
                return repr(line)
        return f"{limit} lines of news, and nothing else"
    except OSError:
        return f"nothing within {client.sock.gettimeout():g} s"
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
