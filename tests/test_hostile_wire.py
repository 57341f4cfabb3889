"""The judge's own network code against a hostile student: the attacks, run for real.

A student's server may answer the judge's clients (tests/grading/wire.py
LineClient) with endless data, a flood of long lines, binary garbage, or a
byte at a time just under the timeout; a student's client may flood the
judge's end of its connection (PoliteServer, exercise 7). Each attack here
runs on real sockets on 127.0.0.1, and each must cost the judge bounded time
and memory, and fail with a sentence for the student. The last test grades
copies whose ChatServer attacks, with tests/grade.py as an instructor runs it.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings
from pathlib import Path

import pytest

import chat_client  # noqa: F401 -- puts tests/grading on the path
import wire
from wire import BUDGET, CHUNK, MAX_LINE, LineClient

with warnings.catch_warnings():  # their marks (points) are the grading suite's own
    warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
    import test_ch5_selectors_server as selectors_challenge
    import test_ex07_client as ex07

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[1]
JUDGE_TIMEOUT = 2.0  # the grading conftest's SOCKET_TIMEOUT, and its tests' TIMEOUT
DRIP_SECONDS = 1.5  # under JUDGE_TIMEOUT: no single recv ever times out
SLACK = 1.0  # for a busy machine
# The deadline of a read that a count of bytes or lines must stop, not time: on a loaded
# machine 100,000 lines can take longer than JUDGE_TIMEOUT to parse, and the deadline
# would hide whether the count works.
COUNT_DEADLINE = 30.0
SOCKET_SECONDS = 5.0  # every socket of the attackers' has this timeout
MEGABYTE = 1 << 20


class Hostile:
    """A server on 127.0.0.1 that accepts one connection and runs ``attack(self, conn)`` on it.

    ``sent`` counts what it sent; ``stop`` ends the attack at its next step."""

    def __init__(self, attack):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(SOCKET_SECONDS)
        self.address = self.listener.getsockname()
        self.stop, self.sent, self.ended_by = threading.Event(), 0, None
        self.thread = threading.Thread(target=self._run, args=(attack,), daemon=True)
        self.thread.start()

    def _run(self, attack):
        try:
            conn, _ = self.listener.accept()
        except OSError as error:
            self.ended_by = error
            return
        with conn:
            conn.settimeout(SOCKET_SECONDS)
            try:
                attack(self, conn)
            except OSError as error:  # the judge hung up: the attack is over
                self.ended_by = error

    def send(self, conn, data):
        conn.sendall(data)
        self.sent += len(data)

    def close(self):
        self.stop.set()
        self.listener.close()
        self.thread.join(SOCKET_SECONDS + 1)
        assert not self.thread.is_alive(), "the attacker's thread did not end"


@pytest.fixture
def hostile():
    """hostile(attack) -> a Hostile server, ended after the test."""
    servers = []

    def start(attack):
        servers.append(Hostile(attack))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def stream(block, total):
    """An attack: ``block`` again and again, ``total`` bytes in all, as fast as the socket takes it."""
    view = memoryview(block)

    def attack(server, conn):
        for _ in range(total // len(block)):
            if server.stop.is_set():
                return
            server.send(conn, view)
    return attack


def drip(piece, times=40):
    """An attack: ``piece`` every DRIP_SECONDS."""
    def attack(server, conn):
        for _ in range(times):
            server.send(conn, piece)
            if server.stop.wait(DRIP_SECONDS):
                return
    return attack


GARBAGE = bytes(byte for byte in range(256) if byte != ord("\n"))  # NULs, invalid UTF-8: no line end
LONG_LINES = (b"y" * 60_000 + b"\n") * 17  # about a megabyte of lines just under MAX_LINE
# What a read may hold at once, however much is sent: a few copies of a line and a recv
# (the pending bytes, the recv, the two joined, their split), a megabyte at most.
HELD = 16 * MAX_LINE


class Watched(LineClient):
    """A LineClient that notes the most its buffers held after each recv."""

    most_pending = most_ready = 0

    def _take(self, deadline):
        try:
            super()._take(deadline)
        finally:
            self.most_pending = max(self.most_pending, len(self._pending))
            self.most_ready = max(self.most_ready, sum(map(len, self._ready)))


def first_line(error):
    """What the grading conftest reports of an AssertionError (pytest may add its own lines)."""
    return str(error).strip().splitlines()[0]


def timed(read):
    """(what ``read()`` raised, the seconds it took, the most memory it allocated at once)."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        read()
    except (AssertionError, OSError, EOFError) as error:
        raised = error
    else:
        raised = None
    took = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return raised, took, peak


# -- a student's server, against the judge's LineClient -----------------------------------

@pytest.mark.parametrize("block", [b"x" * CHUNK, GARBAGE * 256], ids=["text", "garbage"])
def test_endless_data_without_a_newline_fails_the_line_and_holds_64_kib(hostile, block):
    """Stops: a server that sends 200 MB with no line end (text, or NULs and invalid UTF-8),
    which the old read_line gathered in memory for as long as it came."""
    server = hostile(stream(block, 200 * MEGABYTE))
    with Watched(server.address, timeout=JUDGE_TIMEOUT) as client:
        raised, _, peak = timed(lambda: client.read_line(timeout=COUNT_DEADLINE))
        assert isinstance(raised, AssertionError), raised
        assert str(raised) == "the server sent a line of more than 65,536 bytes"
        assert client.most_pending <= MAX_LINE and client.most_ready == 0
        assert client.received <= MAX_LINE + CHUNK  # it stopped reading at once
        assert peak < HELD, f"the judge held {peak:,} bytes at once"
        with pytest.raises(AssertionError, match="a line of more than 65,536 bytes"):
            client.read_line()  # broken for good, and reads no more
        assert client.received <= MAX_LINE + CHUNK
    assert server.sent < 200 * MEGABYTE


def test_a_100_megabyte_burst_of_long_lines_stops_at_the_budget(hostile):
    """Stops: a server that bursts 100 MB of lines just under 64 KiB, which read_until kept
    line after line (100,000 lines of 64 KiB would be 6.4 GB)."""
    server = hostile(stream(LONG_LINES, 100 * MEGABYTE))
    with Watched(server.address, timeout=JUDGE_TIMEOUT) as client:
        raised, _, peak = timed(lambda: client.read_until("* never sent", timeout=COUNT_DEADLINE))
        assert isinstance(raised, AssertionError), raised
        assert str(raised) == f"the server sent more than {BUDGET:,} bytes to one client"
        assert client.received <= BUDGET + CHUNK
        assert client.most_pending <= MAX_LINE and client.most_ready <= MAX_LINE + CHUNK
        assert peak < BUDGET + 4 * MEGABYTE, f"the judge held {peak:,} bytes"
    assert server.sent < 100 * MEGABYTE


@pytest.mark.parametrize("block", [b"* spam\n" * 10_000, b"\n" * CHUNK], ids=["spam", "line ends"])
def test_endless_short_lines_end_at_the_line_limit(hostile, block):
    """Stops: a server that sends short lines for ever (or bare line ends, 65,536 to a recv),
    none the one awaited: read_until gives up after its count of lines, in bounded time
    and memory."""
    server = hostile(stream(block, 200 * MEGABYTE))
    with LineClient(server.address, timeout=JUDGE_TIMEOUT) as client:
        raised, _, peak = timed(lambda: client.read_until("* never sent", timeout=COUNT_DEADLINE))
        assert isinstance(raised, AssertionError), raised
        assert str(raised).startswith("'* never sent' not among 100000 lines")
        assert len(client._ready) <= CHUNK and len(client._pending) <= MAX_LINE
        assert peak < 16 * MEGABYTE  # 100,000 lines, each a few dozen bytes as a str


def test_invalid_utf8_and_nul_bytes_read_as_text_and_fail_with_a_printable_sentence(hostile):
    """Stops: a server that answers with NULs and bytes that are not UTF-8, which must not
    crash the judge or its report: they read as text, and the failure is a plain sentence."""
    garbage = b"\xff\xfe\x00\x00\xc3\x28 hi\x00\r\n\x80* Welcome\xed\xa0\x80\n"
    server = hostile(lambda server, conn: server.send(conn, garbage))
    with LineClient(server.address, timeout=JUDGE_TIMEOUT) as client:
        assert client.read_line() == "\ufffd\ufffd\x00\x00\ufffd( hi\x00"
        with pytest.raises(AssertionError) as failure:
            wire.expect(client, "* Welcome to the chat room, 127.0.0.1! Type /help for commands.",
                        "alice", "she connected")
        sentence = str(failure.value)
        assert sentence.endswith("got '\ufffd* Welcome\ufffd\ufffd\ufffd'"), sentence
        sentence.encode("utf-8")  # no lone surrogates: it goes into the report as it is
        assert json.loads(json.dumps({"message": sentence}))["message"] == sentence
        assert wire.heard(client) == "the connection closed"


@pytest.fixture
def judges_default():
    """The default socket timeout that the grading conftest sets, for this test."""
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(JUDGE_TIMEOUT)
    yield
    socket.setdefaulttimeout(before)


def test_a_byte_every_one_and_a_half_seconds_cannot_hold_a_read_line(hostile, judges_default):
    """Stops: a server that sends one byte every 1.5 s, so that no recv ever times out,
    which held the old read_line for as long as it went on. The client is made as
    exercise 6 makes it, with the judge's default timeout."""
    server = hostile(drip(b"*"))
    with LineClient(server.address) as client:
        assert client.sock.gettimeout() == JUDGE_TIMEOUT and client.read_seconds is None
        raised, took, _ = timed(client.read_line)
        assert isinstance(raised, socket.timeout), raised
        assert JUDGE_TIMEOUT - 0.1 <= took < JUDGE_TIMEOUT + SLACK
        assert client.received >= 2  # bytes came: every recv was in time, the call was not


@pytest.mark.parametrize("read", ["read_until", "read_to_end", "heard"])
def test_a_line_every_one_and_a_half_seconds_cannot_hold_a_longer_read(hostile, read):
    """Stops: a server that sends a line every 1.5 s, never the one awaited and never closing,
    which held read_until, read_to_end and heard for up to 100,000 lines each."""
    server = hostile(drip(b"* tick\n"))
    with LineClient(server.address, timeout=JUDGE_TIMEOUT) as client:
        reads = {"read_until": lambda: client.read_until("* never sent"),
                 "read_to_end": client.read_to_end,
                 "heard": lambda: wire.heard(client, skip=re.compile(r"\* tick"))}
        started = time.monotonic()
        if read == "heard":
            assert reads[read]() == f"nothing within {JUDGE_TIMEOUT:g} s"
        else:
            with pytest.raises(socket.timeout):
                reads[read]()
        took = time.monotonic() - started
        assert JUDGE_TIMEOUT - 0.1 <= took < JUDGE_TIMEOUT + SLACK
        assert client.received >= 2 * len(b"* tick\n")


# -- the judge's raw reads of a student's sockets ----------------------------------------

def test_receive_stops_at_its_deadline_however_the_bytes_trickle(hostile):
    """Stops: a drip into the judge's plain reads (exercises 5 and 6), which waited up
    to 2 s a byte, for as many bytes as they wanted."""
    server = hostile(drip(b"*"))
    with socket.create_connection(server.address, timeout=JUDGE_TIMEOUT) as sock:
        started = time.monotonic()
        got = wire.receive(sock, 1000)
        took = time.monotonic() - started
    assert 2 <= len(got) < 1000
    assert JUDGE_TIMEOUT - 0.1 <= took < JUDGE_TIMEOUT + SLACK


def test_the_slow_readers_lines_are_bounded_too(hostile):
    """Stops: endless data with no line end into the selectors challenge's plain-socket
    line reader (its slow reader's), which gathered it in memory for as long as it came."""
    server = hostile(stream(GARBAGE * 256, 200 * MEGABYTE))
    with socket.create_connection(server.address, timeout=JUDGE_TIMEOUT) as sock:
        raised, took, peak = timed(lambda: selectors_challenge.read_lines(sock, b"never sent", limit=10))
    assert isinstance(raised, AssertionError), raised
    assert first_line(raised) == "the server sent a line of more than 65,536 bytes"
    assert peak < HELD and took < 1 + SLACK


# -- a student's client, against the judge's server end ----------------------------------

@pytest.fixture
def judges_end():
    """(a client's socket, the judge's end of its connection), as sandbox.connect_pair makes them."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(SOCKET_SECONDS)
        client = socket.create_connection(listener.getsockname(), timeout=SOCKET_SECONDS)
        server_end, _ = listener.accept()
    server_end.settimeout(JUDGE_TIMEOUT)
    with client, server_end:
        yield client, server_end


def flood(sock, total, ended):
    """Send ``total`` bytes as fast as ``sock`` takes them; put what was sent, and how it ended,
    in ``ended``."""
    view, sent = memoryview(b"f" * MEGABYTE), 0
    try:
        for _ in range(total // MEGABYTE):
            sock.sendall(view)
            sent += MEGABYTE
        ended.update(sent=sent, error=None)
    except OSError as error:
        ended.update(sent=sent, error=error)


def test_a_client_that_floods_the_judges_server_is_cut_off(judges_end):
    """Stops: a client that sends 200 MB to PoliteServer, which kept every byte (and copied
    them all again for each recv) for as long as they came."""
    client, server_end = judges_end
    ended = {}
    polite = ex07.PoliteServer(server_end)
    flooder = threading.Thread(target=flood, args=(client, 200 * MEGABYTE, ended), daemon=True)
    started = time.monotonic()
    flooder.start()
    with pytest.raises(AssertionError) as failure:
        polite.wait()
    assert first_line(failure.value) == "the client sent more than 65,536 bytes to the server"
    took = time.monotonic() - started
    flooder.join(SOCKET_SECONDS + 1)
    assert not flooder.is_alive() and not polite._thread.is_alive()
    assert len(polite.received) <= ex07.KEPT
    assert took < 1 + SLACK
    assert ended["sent"] < 200 * MEGABYTE and isinstance(ended["error"], OSError), ended


def test_a_client_that_drips_cannot_hold_the_judges_server(judges_end):
    """Stops: a client that sends a byte every 1.5 s and never shuts its side, which held
    PoliteServer's thread for as long as it went on (every recv was in time)."""
    client, server_end = judges_end
    stop = threading.Event()

    def drip_bytes():
        for _ in range(40):
            try:
                client.sendall(b"*")
            except OSError:
                return
            if stop.wait(DRIP_SECONDS):
                return

    dripper = threading.Thread(target=drip_bytes, daemon=True)
    polite = ex07.PoliteServer(server_end)
    started = time.monotonic()
    dripper.start()
    got = polite.wait()
    took = time.monotonic() - started
    stop.set()
    dripper.join(SOCKET_SECONDS)
    assert not polite._thread.is_alive() and not dripper.is_alive()
    assert 2 <= len(got) <= 4
    assert ex07.SECONDS - 0.1 <= took < ex07.SECONDS + SLACK


# -- through the real grader ------------------------------------------------------------

# Each runs in the student's ChatServer, in each client's thread, once it is let in (after
# its welcome); with the sentence the student reads. The last is wire.heard's for a timeout.
SERVER_ATTACKS = {
    "garbage_without_end": ("for _ in range(10_000):  # NULs and invalid UTF-8, 655 MB\n"
                            "    member.sock.sendall(bytes(range(10)) * 6554 + b'\\xff')\n",
                            "the server sent a line of more than 65,536 bytes"),
    "long_lines_without_end": ("for _ in range(1000):  # 960 MB\n"
                               "    member.sock.sendall((b'z' * 60000 + b'\\n') * 16)\n",
                               "got 'zzzzzzzzzzzzzzzzzzzz"),  # one line, shortened
    "a_byte_every_1_5_s": ("import time\n"
                           "for _ in range(100):\n"
                           "    member.sock.sendall(b'*')\n"
                           "    time.sleep(1.5)\n",
                           "nothing within 2 s"),
}
# Through the whole grader, the drip is left out: the tests above show a read cut at its
# deadline, and here it would cost every check of exercise 6 its 2 s (about 35 s in all).
GRADED_ATTACKS = {name: attack for name, attack in SERVER_ATTACKS.items()
                  if name != "a_byte_every_1_5_s"}
GRADING_SECONDS = 30
WELCOME_IS_ENOUGH = {"test_hidden_clients_that_hang_up_at_once_do_not_stop_the_server",
                     "test_hidden_a_failed_accept_does_not_end_the_loop",
                     "test_hidden_no_line_of_the_room_comes_before_the_welcome"}


def release(target):
    made = subprocess.run([sys.executable, str(ROOT / "tests" / "release.py"), "--with-solutions",
                           str(target)], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert made.returncode == 0, made.stdout + made.stderr
    return target


def attack_the_server(copy, code):
    """Run ``code`` in the copy's ChatServer for each client it lets in, before serving it."""
    path = copy / "chatroom" / "server.py"
    source = path.read_text(encoding="utf-8")
    marker = "        admitted.wait()\n"
    assert source.count(marker) == 1, "ChatServer._serve has changed: find a new place to attack"
    body = "member.sock.settimeout(5)\n" + code
    indented = "".join("        " + line + "\n" for line in body.splitlines())
    path.write_text(source.replace(marker, marker + indented), encoding="utf-8")


def test_a_hostile_chat_server_loses_its_points_in_bounded_time(tmp_path):
    """Stops, through tests/grade.py: a ChatServer that answers every client with endless
    garbage, or with long lines for ever. Each loses every check of
    exercise 6 that waits for more than the welcome, each with a sentence (failed: never an
    error or a timeout of the judge's), and the grading ends in bounded time."""
    perfect = release(tmp_path / "perfect")
    students = tmp_path / "class"
    for name, (code, _) in GRADED_ATTACKS.items():
        shutil.copytree(perfect, students / name, ignore=shutil.ignore_patterns("notebooks"))
        attack_the_server(students / name, code)
    out = tmp_path / "grades"
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "grade.py"), str(students), "--out", str(out),
         "-k", "ex06", "--jobs", str(len(GRADED_ATTACKS))],
        capture_output=True, text=True, timeout=2 * GRADING_SECONDS, stdin=subprocess.DEVNULL,
        env={**os.environ, "MPLBACKEND": "Agg"})
    took = time.monotonic() - started
    assert finished.returncode == 0, finished.stderr
    assert took < GRADING_SECONDS, f"grading took {took:.0f} s"
    for name, (_, sentence) in GRADED_ATTACKS.items():
        record = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        passed = {test["name"] for test in record["tests"] if test["status"] == "passed"}
        lost = [test for test in record["tests"] if test["status"] != "passed"]
        assert passed <= WELCOME_IS_ENOUGH, (name, passed)
        assert lost and all(test["status"] == "failed" and test["points"] == 0 for test in lost), (
            name, lost)
        assert any(sentence in test["message"] for test in lost), (name, lost)
        assert record["total"] == sum(test["points"] for test in record["tests"]), (name, record)
