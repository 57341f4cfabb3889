"""Challenge 2: flood control, in TokenBucket and FloodControlServer.handle_lines.

Timing is measured with generous bounds, for a busy machine: a line is read
after it arrives, never before, so a late reader only makes a flood look slower.
"""

import time
from collections import Counter

import pytest

from wire import LineClient, chat_lines, lines_before_who

CHALLENGE = "ch2_flood_control"
BUCKET = ("TokenBucket.refill", "TokenBucket.take", "TokenBucket.wait_time")
SERVER = ("FloodControlServer.handle_lines", "FloodControlServer.warn")
TIMEOUT = 2.0  # for one line: far more than a line takes on loopback
WARNING = "* slow down: at most {rate:g} lines a second after a burst of {burst}; your lines are delayed"



@pytest.fixture
def room(start_server, written):
    """room(burst, rate) -> (a running FloodControlServer with those limits, person())."""
    clients = []

    def start(burst, rate):
        written(CHALLENGE, *BUCKET, *SERVER)
        server = start_server(f"exercises/{CHALLENGE}.py:FloodControlServer")
        server.remote.set("BURST", burst)  # before anyone comes in: each member's bucket
        server.remote.set("RATE", rate)    # is made when it arrives

        def person(witness=None):
            """A new client in the room. With a ``witness`` already in, the newcomer
            has sent nothing yet (its bucket is full): the witness sees it arrive."""
            client = LineClient(server.address, timeout=TIMEOUT)
            clients.append(client)
            if witness is None:
                client.joined()
            else:
                client.read_until(lambda line: line.startswith("* Welcome"))
                witness.read_until(lambda line: line.endswith(" joined"))
            return client

        return server, person

    yield start
    for client in clients:
        client.close()


def flood(count):
    return [f"flood {n:02}" for n in range(count)]


def send_at_once(client, lines):
    """Send ``lines`` in one piece; return the time just before."""
    started = time.monotonic()
    client.send_raw("".join(line + "\n" for line in lines).encode())
    return started


def arrivals(client, count, since):
    """[(seconds after ``since``, line)] of the next ``count`` chat lines ``client`` reads."""
    got = []
    while len(got) < count:
        try:
            line = client.read_line()
        except OSError:
            raise AssertionError(f"only {len(got)} of {count} lines arrived; then nothing "
                                 f"for {TIMEOUT:g} s: {[text for _, text in got[-3:]]}") from None
        if chat_lines([line]):
            got.append((time.monotonic() - since, line))
    return got


@pytest.mark.points(3)
def test_a_flood_arrives_whole_in_order_and_no_faster_than_the_rate(room):
    burst, rate = 5, 20
    server, person = room(burst, rate)
    bob = person()
    alice = person(witness=bob)
    started = send_at_once(alice, flood(40))
    got = arrivals(bob, 40, started)
    lines = [line for _, line in got]
    assert lines == [f"<127.0.0.1> {line}" for line in flood(40)], (
        f"alice sent 40 lines at once: bob should get all 40, in order; got {lines}")
    early = sum(1 for seconds, _ in got if seconds <= 1.0)
    most = burst + rate * 1 + 2
    assert early <= most, (
        f"with BURST = {burst} and RATE = {rate}, alice's 40 lines sent at once should reach "
        f"bob at most {burst} + {rate} a second: {most} within the first second (with a "
        f"margin), but {early} arrived")


@pytest.mark.points(2)
def test_the_token_bucket(sandbox, written):
    written(CHALLENGE, *BUCKET)
    # A clock the test sets: functools.partial(operator.attrgetter("now"), clock) is
    # a function of no arguments that returns clock.now.
    clock = sandbox.new("types:SimpleNamespace", now=1000.0)
    read_clock = sandbox.new("functools:partial", sandbox.call("operator:attrgetter", "now"), clock)
    bucket = sandbox.new(f"exercises/{CHALLENGE}.py:TokenBucket", 5, 2, clock=read_clock)
    steps = []

    def check(got, wanted, what):
        steps.append(f"{what} -> {got!r}")
        assert got == pytest.approx(wanted), (
            f"TokenBucket(burst=5, rate=2), with a clock the test sets: {'; '.join(steps)}; "
            f"the last should be {wanted!r}")

    def later(seconds):
        clock.set("now", clock.get("now") + seconds)

    check(bucket.take(7), 5, "new, take(7)")
    check(bucket.take(1), 0, "take(1) at once")
    check(bucket.wait_time(), 0.5, "wait_time()")
    later(0.25)
    check(bucket.take(1), 0, "0.25 s later, take(1)")
    check(bucket.wait_time(), 0.25, "wait_time()")
    later(0.25)
    check(bucket.take(2), 1, "0.25 s later, take(2)")
    later(60)
    check(bucket.take(9), 5, "60 s later, take(9)")


@pytest.mark.points(2)
def test_the_flooder_is_told_once(room):
    server, person = room(5, 2.0)  # the defaults, and the message of the task
    bob = person()
    alice = person(witness=bob)
    send_at_once(alice, flood(6))  # one line, then the /who below, are held back
    told = lines_before_who(alice)
    wanted = WARNING.format(rate=2.0, burst=5)
    assert told == [wanted], (
        f"alice sent 6 lines at once, then /who; with BURST = 5 and RATE = 2 she should get "
        f"{wanted!r} once before the answer to /who, got {told}")
    got = [line for line in lines_before_who(bob) if line.startswith("* slow down")]
    assert got == [], f"only alice flooded, but bob was told {got}"


@pytest.mark.points(2)
def test_the_others_are_not_held_up(room):
    server, person = room(5, 10)
    bob = person()
    carol = person()
    alice = person(witness=carol)
    send_at_once(alice, flood(40))  # about 3.5 s of lines
    carol.read_until("<127.0.0.1> flood 00")
    sent = time.monotonic()
    bob.send("hello from bob")
    carol.read_until("<127.0.0.1> hello from bob")
    waited = time.monotonic() - sent
    assert waited <= 0.5, (
        f"while alice floods, bob's line should reach carol at once (within 0.5 s); "
        f"it took {waited:.2f} s: is one member's wait holding up the others?")
    told = [line for line in lines_before_who(bob) if line.startswith("* slow down")]
    assert told == [], f"bob sent two lines while alice flooded, and was told {told}: one bucket per member"


@pytest.mark.points(2)
def test_a_polite_sender_is_never_held_back(room):
    server, person = room(2, 2.0)
    bob = person()
    alice = person(witness=bob)
    for n in range(3):
        if n:
            time.sleep(0.6)  # the pace under test: a little slower than RATE
        sent = time.monotonic()
        alice.send(f"polite {n}")
        bob.read_until(f"<127.0.0.1> polite {n}")
        waited = time.monotonic() - sent
        assert waited <= 0.3, (
            f"with BURST = 2 and RATE = 2, alice sends a line every 0.6 s: line {n} should "
            f"reach bob at once, but it took {waited:.2f} s")
    told = lines_before_who(alice)
    assert told == [], f"alice sent a line every 0.6 s (RATE = 2), and was told {told}"


@pytest.mark.points(1)
def test_stop_ends_a_member_that_is_held_back(room, sandbox):
    before = thread_names(sandbox)
    server, person = room(1, 0.5)  # a line every 2 s
    bob = person()
    alice = person(witness=bob)
    send_at_once(alice, flood(3))
    bob.read_until("<127.0.0.1> flood 00")
    alice.read_until(lambda line: line.startswith("* slow down"))  # she now waits for flood 01
    server.remote.stop()
    left = list((Counter(thread_names(sandbox)) - Counter(before)).elements())
    assert left == [], (
        f"stop() should end every thread of the server within its second, but {left} still "
        "ran: a member held back should wait on the server's stop event "
        "(self._stopping.wait(seconds)), not time.sleep")
    assert "* The server is shutting down. Goodbye!" in alice.read_to_end(), (
        "alice was held back when the server stopped: she should still get its goodbye "
        "(handle_lines should return True then, so that she is still in the room for stop())")


def thread_names(sandbox):
    """The names of the threads running in the sandbox, where the server runs."""
    return [thread.get("name") for thread in sandbox.call("threading:enumerate")]
