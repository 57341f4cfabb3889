"""Challenge 9: the latency probe, in join, measure and report.

The judge runs the room the probe measures: a chat room of its own on
127.0.0.1 that greets, answers /who, and relays each line to the others as
``<NAME> text``, holding each line as long as the test says (or losing it).
So the latencies the probe should find are known.
"""

import heapq
import re
import socket
import threading
import time

import pytest

from wire import left, readable, within

CHALLENGE = "ch9_latency_probe"
SCRIPT = f"exercises/{CHALLENGE}.py"
HOST = "127.0.0.1"
SECONDS = 6.0  # how long the judge's room runs, at most
SLACK = 0.25  # what a busy machine may add to a line's time
PROBE = re.compile(r"probe \S+ (\d+)")


class JudgeRoom:
    """A chat room of the judge's. ``hold(number)`` says how long to hold line number N of a
    probe before relaying it (None: lose it); ``admit_after`` seconds pass between the welcome
    and joining the room (the /who answer comes after that). ``heard`` lists (time, name, text)
    of every line the room got."""

    def __init__(self, hold=lambda number: 0.0, admit_after=0.0):
        self.hold, self.admit_after = hold, admit_after
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.members, self.heard, self.names = [], [], 0
        self.lock = threading.Condition()
        self.due = []  # (when, sequence, connection, bytes): lines held back
        self.ending = threading.Event()
        self.deadline = within(SECONDS)
        self.threads = [threading.Thread(target=self.accept, daemon=True),
                        threading.Thread(target=self.relay, daemon=True)]
        for thread in self.threads:
            thread.start()

    def accept(self):
        while not self.ending.is_set() and left(self.deadline) > 0:
            if not readable(self.listener, min(0.1, left(self.deadline))):
                continue
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.names += 1
            name = HOST if self.names == 1 else f"{HOST}#{self.names}"
            thread = threading.Thread(target=self.serve, args=(conn, name), daemon=True)
            self.threads.append(thread)
            thread.start()

    def serve(self, conn, name):
        conn.settimeout(1.0)
        with conn:
            try:
                conn.sendall(f"* Welcome to the chat room, {name}! Type /help for commands.\n".encode())
                if self.ending.wait(self.admit_after):
                    return
                with self.lock:
                    self.members.append(conn)
                pending = b""
                while not self.ending.is_set() and left(self.deadline) > 0:
                    if not readable(conn, min(0.1, left(self.deadline))):
                        continue
                    data = conn.recv(65536)
                    if not data:
                        return
                    *lines, pending = (pending + data).split(b"\n")
                    for line in lines:
                        self.take(conn, name, line.decode("utf-8", "replace"))
            except OSError:
                return
            finally:
                with self.lock:
                    try:
                        self.members.remove(conn)
                    except ValueError:
                        pass  # it never got in

    def take(self, conn, name, text):
        with self.lock:
            self.heard.append((time.monotonic(), name, text))
            if text == "/who":
                conn.sendall(f"* {len(self.members)} here: ...\n".encode())
                return
            found = PROBE.fullmatch(text)
            hold = self.hold(int(found.group(1))) if found else 0.0
            if hold is None:
                return  # lost
            data = f"<{name}> {text}\n".encode()
            for other in self.members:
                if other is not conn:
                    heapq.heappush(self.due, (time.monotonic() + hold, len(self.heard), other, data))
            self.lock.notify()

    def relay(self):
        with self.lock:
            while not self.ending.is_set() and left(self.deadline) > 0:
                wait = self.due[0][0] - time.monotonic() if self.due else 0.1
                if wait > 0:
                    self.lock.wait(min(wait, 0.1))
                    continue
                _, _, conn, data = heapq.heappop(self.due)
                try:
                    conn.sendall(data)
                except OSError:
                    pass  # that member has gone

    def probe_lines(self):
        """(time, number) of each probe line the room got, in the order it got them."""
        return [(when, int(PROBE.fullmatch(text).group(1))) for when, _, text in self.heard
                if PROBE.fullmatch(text)]

    def close(self):
        self.ending.set()
        with self.lock:
            self.lock.notify()
        self.listener.close()
        for thread in self.threads:
            thread.join(2.0)


@pytest.fixture
def judge_room():
    """judge_room(**options) -> a running JudgeRoom; closed after the test."""
    made = []

    def make(**options):
        made.append(JudgeRoom(**options))
        return made[-1]

    yield make
    for each in made:
        each.close()


def measure(sandbox, room, count, interval, timeout):
    """(what measure returned, how long it took)."""
    started = time.monotonic()
    result = sandbox.call(f"{SCRIPT}:measure", HOST, room.port, count, interval, timeout)
    took = time.monotonic() - started
    assert isinstance(result, dict) and set(result) == {"sent", "latencies", "lost"}, (
        f"measure should return a dict with the keys 'sent', 'latencies' and 'lost', got "
        f"{str(result)[:100]}")
    return result, took


@pytest.mark.points(2)
def test_join_waits_until_the_room_has_let_it_in(sandbox, judge_room, written):
    written(CHALLENGE, "join")
    room = judge_room(admit_after=0.3)
    started = time.monotonic()
    got = sandbox.call(f"{SCRIPT}:join", HOST, room.port, 2.0)
    took = time.monotonic() - started
    assert isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], bytes), (
        f"join should return (the socket, the bytes received after the /who answer), got {got!r}")
    got[0].close()
    asked = [text for _, _, text in room.heard]
    assert asked[:1] == ["/who"], f"join should send '/who' once welcomed; the room got {asked}"
    assert took >= 0.3, (
        f"the room let the connection in 0.3 s after its welcome, and only then answered /who; "
        f"join returned after {took:.2f} s: it should wait for the answer")


@pytest.mark.points(3)
def test_each_line_is_timed_from_its_send_to_its_arrival(sandbox, judge_room, written):
    written(CHALLENGE, "join", "measure")
    slow = {5: 0.15, 15: 0.15}
    room = judge_room(hold=lambda number: slow.get(number, 0.03))
    result, took = measure(sandbox, room, 20, 0.01, 1.0)
    story = ("the room held each of 20 lines (sent 10 ms apart) for 30 ms, but lines 5 and 15 "
             "for 150 ms")
    assert result["sent"] == 20 and result["lost"] == [], (
        f"{story}: every line came back, so 'sent' is 20 and 'lost' is []; got {result['sent']!r} "
        f"and {str(result['lost'])[:60]}")
    latencies = result["latencies"]
    assert isinstance(latencies, list) and len(latencies) == 20, (
        f"{story}: 'latencies' should hold 20 numbers (seconds), got {str(latencies)[:80]}")
    for number, seconds in enumerate(latencies):
        held = slow.get(number, 0.03)
        assert held <= seconds <= held + 1.0, (
            f"{story}: line {number}'s latency should be a little over {held:g} s, got {seconds!r} "
            f"(in seconds, in the order of the lines' numbers)")
    ordered = sorted(latencies)
    assert ordered[10] <= 0.03 + SLACK, (
        f"{story}: the median latency should be near 0.03 s, got {ordered[10]:.3f} s")


@pytest.mark.points(2)
def test_lost_lines_are_named(sandbox, judge_room, written):
    written(CHALLENGE, "join", "measure")
    room = judge_room(hold=lambda number: None if 3 <= number <= 6 else 0.0)
    result, took = measure(sandbox, room, 12, 0.01, 0.3)
    assert result["lost"] == [3, 4, 5, 6], (
        f"the room lost lines 3 to 6 of 12: 'lost' should be [3, 4, 5, 6], got "
        f"{str(result['lost'])[:60]}")
    assert len(result["latencies"]) == 8, (
        f"8 of 12 lines came back: 'latencies' should hold 8 numbers, got {str(result['latencies'])[:80]}")
    assert took <= 12 * 0.01 + 0.3 + 1.5, (
        f"with lines 10 ms apart and a timeout of 0.3 s, measure should give up on the lost lines "
        f"about 0.3 s after the last send; it took {took:.1f} s")


@pytest.mark.points(2)
def test_report_gives_the_percentiles_in_milliseconds(sandbox, written):
    written(CHALLENGE, "report")
    for result, wanted in (
            ({"sent": 4, "latencies": [0.001, 0.004, 0.002, 0.003], "lost": []},
             ["* 4 lines sent, 4 received, 0 lost", "* latency: p50 2.50 ms, p99 3.97 ms, max 4.00 ms"]),
            ({"sent": 5, "latencies": [0.0125], "lost": [0, 1, 3, 4]},
             ["* 5 lines sent, 1 received, 4 lost", "* latency: p50 12.50 ms, p99 12.50 ms, max 12.50 ms"]),
            ({"sent": 3, "latencies": [], "lost": [0, 1, 2]},
             ["* 3 lines sent, 0 received, 3 lost", "* no line came back: is the room relaying?"])):
        got = sandbox.call(f"{SCRIPT}:report", result)
        assert got == wanted, f"report({result}) should be {wanted}, got {got}"
