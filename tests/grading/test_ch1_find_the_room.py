"""Challenge 1: find the chat room, in ports, knock, first_line and scan.

The judge opens the ports the scanner knocks on, on 127.0.0.1: rooms that
greet it as a chat room does, a service that greets otherwise, a port that
accepts and says nothing, and one where nothing listens.
"""

import socket
import struct
import threading
import time

import pytest

from sandbox import RemoteError
from wire import left, readable, within

CHALLENGE = "ch1_find_the_room"
SCRIPT = f"exercises/{CHALLENGE}.py"
HOST = "127.0.0.1"
WELCOME = "* Welcome to the chat room, 127.0.0.1! Type /help for commands."
FULL = "* Sorry, the room is full (10 people). Try again later."
KNOCK = 0.4  # the timeout the tests give a knock: plenty on loopback
SLACK = 0.6  # what a busy machine may add to a knock's time
SECONDS = 4.0  # how long a port of the judge's serves, at most
KEPT = 4096  # what the judge keeps of what a knock sends (it should send nothing)


class Port:
    """A port of the judge's on 127.0.0.1, serving one connection after another for at most
    SECONDS: it sends ``greeting`` (in pieces of ``step`` bytes, ``pause`` seconds apart),
    then reads what the scanner sends until it closes (``heard``); ``then`` is "wait" (for
    the scanner to close), "close" or "reset". ``accept=False``: it never accepts, and the
    kernel completes every connection all the same (a server that never speaks)."""

    def __init__(self, greeting=b"", step=None, pause=0.0, then="wait", accept=True):
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.greeting, self.step, self.pause, self.then = greeting, step, pause, then
        self.heard, self.done = [], threading.Event()
        self.thread = None
        if accept:
            self.thread = threading.Thread(target=self.serve, daemon=True)
            self.thread.start()

    def serve(self):
        deadline = within(SECONDS)
        try:
            while not self.done.is_set() and left(deadline) > 0:
                if readable(self.listener, min(0.1, left(deadline))):
                    conn, _ = self.listener.accept()
                    with conn:
                        self.talk(conn, deadline)
        except OSError:
            return  # the test closed the listener

    def talk(self, conn, deadline):
        conn.settimeout(max(0.01, left(deadline)))
        step = self.step or len(self.greeting) or 1
        for start in range(0, len(self.greeting), step):
            if start and self.done.wait(self.pause):
                return
            try:
                conn.sendall(self.greeting[start:start + step])
            except OSError:
                return  # the scanner has gone: it knew enough
        if self.then == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return  # closing now sends a reset
        if self.then == "close":
            return
        heard = b""
        while len(heard) <= KEPT and readable(conn, left(deadline)):
            try:
                data = conn.recv(KEPT)
            except OSError:
                break
            if not data:
                break
            heard += data
        self.heard.append(heard)

    def close(self):
        self.done.set()
        self.listener.close()
        if self.thread is not None:
            self.thread.join(SECONDS)


@pytest.fixture
def ports():
    """ports(...) -> a new Port (same arguments); all closed after the test."""
    made = []

    def make(*args, **kwargs):
        made.append(Port(*args, **kwargs))
        return made[-1]

    yield make
    for port in made:
        port.close()


def free_port():
    """A port where nothing listens (as far as anyone can tell: it was free a moment ago)."""
    with socket.create_server((HOST, 0)) as probe:
        return probe.getsockname()[1]


def knock(sandbox, port, timeout=KNOCK):
    """(what knock answered, as a tuple, and how long it took)."""
    started = time.monotonic()
    got = sandbox.call(f"{SCRIPT}:knock", HOST, port, timeout)
    took = time.monotonic() - started
    return (tuple(got) if isinstance(got, (list, tuple)) else got), took


def expect_knock(sandbox, port, wanted, what, timeout=KNOCK):
    got, took = knock(sandbox, port, timeout)
    assert got == wanted, f"knock on {what} should answer {wanted!r}, got {got!r}"
    assert took <= timeout + SLACK, (
        f"knock on {what} with a timeout of {timeout:g} s took {took:.1f} s: a knock ends "
        f"within its timeout, counted from the call")
    return took


def refusal(sandbox, text):
    """The message of the UsageError that ports(text) raises; fails, in plain words, if none."""
    try:
        result = sandbox.call(f"{SCRIPT}:ports", text)
    except RemoteError as error:
        if error.is_a("UsageError"):
            return error.message
        raise
    raise AssertionError(f"ports({text!r}) should raise chatroom.cli.UsageError; it returned "
                         f"{str(result)[:80]}")


@pytest.mark.points(3)
def test_a_chat_room_answers_with_its_first_line(sandbox, ports):
    room = ports((WELCOME + "\n").encode())
    expect_knock(sandbox, room.port, ("chat room", WELCOME), "a port that greets with the welcome")
    full = ports((FULL + "\n").encode())
    expect_knock(sandbox, full.port, ("chat room", FULL),
                 "a chat room that turns newcomers away (its first line starts with '* ' too)")
    slow = ports((WELCOME + "\r\n").encode(), step=10, pause=0.02)
    expect_knock(sandbox, slow.port, ("chat room", WELCOME),
                 "a room whose welcome comes in pieces of 10 bytes, and ends with '\\r\\n'")


@pytest.mark.points(2)
def test_refused_and_silent_ports(sandbox, ports):
    took = expect_knock(sandbox, free_port(), ("refused", ""), "a port where nothing listens",
                        timeout=3.0)
    assert took < 1.5, (
        f"a refused connection is known at once; a knock with a timeout of 3 s took {took:.2f} s")
    mute = ports(accept=False)
    took = expect_knock(sandbox, mute.port, ("silent", ""),
                        "a port that accepts connections and never says anything")
    assert took >= KNOCK * 0.8, (
        f"a knock with a timeout of {KNOCK:g} s gave up on a silent port after {took:.2f} s: "
        f"it should wait for a first line for its whole timeout")


@pytest.mark.points(2)
def test_other_services_and_hang_ups(sandbox, ports):
    ssh = ports(b"SSH-2.0-OpenSSH_9.6\r\n")
    expect_knock(sandbox, ssh.port, ("other", "SSH-2.0-OpenSSH_9.6"),
                 "a port that greets with 'SSH-2.0-OpenSSH_9.6\\r\\n'")
    mail = ports(b"220 mail.example.com ESMTP\n* not first\n")
    expect_knock(sandbox, mail.port, ("other", "220 mail.example.com ESMTP"),
                 "a port whose first line is '220 mail.example.com ESMTP' (only the first counts)")
    gone = ports(b"* Welc", then="close")
    expect_knock(sandbox, gone.port, ("other", ""),
                 "a port that sends '* Welc' and closes the connection before a whole line")


@pytest.mark.points(1)
def test_a_knock_sends_nothing(sandbox, ports):
    room = ports((WELCOME + "\n").encode())
    expect_knock(sandbox, room.port, ("chat room", WELCOME), "a port that greets with the welcome")
    room.close()  # once the judge's end has read until the knock closed
    assert room.heard == [b""], (
        f"a knock should send nothing, and close its connection: the chat room got {room.heard!r}")


@pytest.mark.points(2)
def test_ports_reads_a_range_or_one_port(sandbox, written):
    written(CHALLENGE, "ports")
    for text, wanted in (("5048-5052", [5048, 5049, 5050, 5051, 5052]), ("5050", [5050]),
                         ("7000-7000", [7000]), ("1-100", list(range(1, 101)))):
        got = sandbox.call(f"{SCRIPT}:ports", text)
        assert got == wanted, f"ports({text!r}) should be {str(wanted)[:60]}, got {str(got)[:60]}"
    for text in ("5052-5048", "0-5", "5048-", "-5050", "http", "1-101", "5050-70000", "50-60-70"):
        message = refusal(sandbox, text)
        assert message.strip(), f"the UsageError of ports({text!r}) should say what is allowed"


@pytest.mark.points(2)
def test_scan_knocks_on_each_port_in_order(sandbox, ports):
    room, mute, ssh, nobody = (ports((WELCOME + "\n").encode()), ports(accept=False),
                               ports(b"SSH-2.0-OpenSSH_9.6\r\n"), free_port())
    order = [nobody, room.port, mute.port, ssh.port]
    started = time.monotonic()
    got = sandbox.call(f"{SCRIPT}:scan", HOST, order, KNOCK)
    took = time.monotonic() - started
    wanted = [(nobody, "refused", ""), (room.port, "chat room", WELCOME),
              (mute.port, "silent", ""), (ssh.port, "other", "SSH-2.0-OpenSSH_9.6")]
    got = [tuple(row) if isinstance(row, (list, tuple)) else row for row in got] \
        if isinstance(got, list) else got
    assert got == wanted, (
        f"scan of a refused port, a chat room, a silent port and an SSH server (in that order) "
        f"should give {wanted}, got {got}")
    assert took <= 4 * KNOCK + SLACK, f"scan of 4 ports, {KNOCK:g} s each at most, took {took:.1f} s"
