"""Challenge 7: the client that comes back, in ReconnectingClient.

The judge plays the server: it listens, accepts the client's connections and
closes them when a test says so; and it types on a connection of its own that
stands for the keyboard. The client chats in the sandbox (its ``chat``) while
the judge plays its part.
"""

import socket
import threading
import time

import pytest

from sandbox import RemoteError, SandboxFailure
from wire import LineClient

CHALLENGE = "ch7_reconnect"
TARGET = f"exercises/{CHALLENGE}.py:ReconnectingClient"
PARTS = ("ReconnectingClient.from_server", "ReconnectingClient.reconnect")
WELCOME = "* Welcome to the chat room, 127.0.0.1! Type /help for commands."
CLOSED = "* The server closed the connection."
SECONDS = 2.0  # for one line, or one connection, to come: far more than either takes
RETRIES, FIRST = 3, 0.05  # short: the whole chat is one call into the sandbox, with a deadline


def trying(delay, attempt, retries=RETRIES):
    return f"* Reconnecting in {delay:g} s (try {attempt} of {retries})."


def giving_up(retries=RETRIES):
    return f"* Could not reconnect; giving up after {retries} tries."


class Connection(LineClient):
    """The judge's end of one of the client's connections: lines, with a deadline each."""

    def __init__(self, sock):
        sock.settimeout(SECONDS)
        self.sock, self._pending, self._ready = sock, b"", []

    def say(self, *lines):
        self.send_raw("".join(line + "\n" for line in lines).encode())

    def hang_up(self):
        """Close, as a server that stops does (after reading what the client sent)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.sock.close()


class Session:
    """The judge's side of one chat: its listener, the client's connections, the keyboard."""

    def __init__(self, sandbox, **options):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(SECONDS)
        self.port = self.listener.getsockname()[1]
        sock = sandbox.request("connect", port=self.port)
        self.first = self.accept()
        keys, self.keyboard = sandbox.connect_pair()  # the judge types on its end
        screen = sandbox.new("io:StringIO")
        options = {"retries": RETRIES, "first_delay": FIRST, **options}
        self.client = sandbox.new(TARGET, sock, sandbox.new("chatroom.client:StdinKeyboard", keys),
                                  screen, ("127.0.0.1", self.port), **options)
        self.screen, self.outcome, self.thread = screen, {}, None

    def accept(self, seconds=SECONDS):
        """The client's next connection, or None if none comes within ``seconds``."""
        self.listener.settimeout(seconds)
        try:
            return Connection(self.listener.accept()[0])
        except socket.timeout:
            return None

    def type(self, text):
        self.keyboard.sendall(text.encode() + b"\n")

    def start(self):
        """The client chats, in the sandbox, while the test plays the server."""
        def chat():
            self.started = time.monotonic()
            try:
                self.outcome["value"] = self.client.chat()
            except (RemoteError, SandboxFailure) as problem:
                self.outcome["error"] = problem
            self.outcome["seconds"] = time.monotonic() - self.started
        self.thread = threading.Thread(target=chat, daemon=True)
        self.thread.start()

    def finish(self, what):
        """Wait for the chat to end; its screen, as lines. Raises what the client raised."""
        self.thread.join(6.0)
        if "error" in self.outcome:
            raise self.outcome["error"]
        assert "seconds" in self.outcome, f"after {what}, the chat should be over"
        return self.screen.getvalue().splitlines()

    def close(self):
        self.listener.close()
        self.keyboard.close()


@pytest.fixture
def session(sandbox, written):
    written(CHALLENGE, *PARTS)
    made = []

    def make(**options):
        made.append(Session(sandbox, **options))
        return made[-1]

    yield make
    for each in made:
        each.close()


def expect(connection, wanted, after):
    try:
        got = repr(connection.read_line())
    except OSError:
        got = f"nothing within {SECONDS:g} s"
    except EOFError:
        got = "the end of the connection"
    assert got == repr(wanted), f"after {after}, the server should get {wanted!r}, got {got}"


def rename(connection, session, name):
    session.type(f"/nick {name}")
    expect(connection, f"/nick {name}", f"typing '/nick {name}'")
    connection.say(f"* you are now {name}")


@pytest.mark.points(3)
def test_it_comes_back_and_takes_back_its_name(session):
    chat = session()
    chat.start()
    chat.first.say(WELCOME)
    rename(chat.first, chat, "alice")
    chat.first.hang_up()
    second = chat.accept()
    assert second is not None, (
        f"the server closed the connection: the client should connect again after "
        f"{FIRST:g} s (first_delay), and did not within {SECONDS:g} s")
    expect(second, "/nick alice", "the server confirmed '* you are now alice', closed, and the "
                                  "client came back (its first line takes back its name)")
    second.say(WELCOME, "* you are now alice")
    chat.type("hello again")
    expect(second, "hello again", "coming back, and typing 'hello again'")
    chat.type("/quit")
    expect(second, "/quit", "typing '/quit'")
    second.hang_up()
    screen = chat.finish("'/quit'")
    wanted = [CLOSED, trying(FIRST, 1)]
    found = [line for line in screen if line in wanted or "Reconnecting" in line]
    assert found == wanted, (
        f"when the server closed the connection the screen should show {wanted}, once each, "
        f"then the chat again; it shows {screen}")
    assert screen.count(WELCOME) == 2, f"both welcomes should be on the screen: {screen}"


@pytest.mark.points(2)
def test_it_backs_off_and_gives_up(session):
    chat = session()
    chat.start()
    chat.first.say(WELCOME)
    chat.listener.close()  # no server any more: every try is refused
    chat.first.hang_up()
    screen = chat.finish(f"{RETRIES} tries refused")
    wanted = [CLOSED, trying(0.05, 1), trying(0.1, 2), trying(0.2, 3), giving_up()]
    assert screen[-5:] == wanted, (
        f"with no server to come back to, the screen should end with {wanted}; it shows {screen}")
    took = chat.outcome["seconds"]
    assert took >= 0.33, (
        f"waiting 0.05, 0.1 and 0.2 s before the 3 tries takes 0.35 s; the chat ended after "
        f"{took:.2f} s: does the client wait before each try?")
    assert chat.outcome["value"] in (None, False), "chat() returns nothing"


@pytest.mark.points(1)
def test_leaving_is_not_an_outage(session):
    chat = session()
    chat.start()
    chat.first.say(WELCOME)
    chat.type("/quit")
    expect(chat.first, "/quit", "typing '/quit'")
    chat.first.say("* Bye!")
    chat.first.hang_up()
    screen = chat.finish("'/quit'")
    tries = [line for line in screen if "Reconnecting" in line]
    assert not tries, f"after /quit the client should leave, not come back; the screen shows {tries}"
    assert chat.accept(0.3) is None, "after /quit the client connected to the server again"
