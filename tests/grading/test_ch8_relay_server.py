"""Challenge 8: RelayChatServer, a thread per reader and one relay thread for every send.

The judge is the server's clients, on the wire; and, to see one pass at work,
it holds the relay's lock (``queued``) while it queues lines itself, and counts
the sends each member's outbox gets.
"""

import time

import pytest

from wire import LineClient, chat_lines, left, within

CHALLENGE = "ch8_relay_server"
TARGET = f"exercises/{CHALLENGE}.py:RelayChatServer"
PARTS = ("RelayChatServer.broadcast_lines", "RelayChatServer.relay", "RelayChatServer.relay_pass")
TIMEOUT = 2.0  # for one line: far more than a line takes on loopback
GOODBYE = "* The server is shutting down. Goodbye!"


@pytest.fixture
def room(start_server, written):
    """room(count, **options) -> (the running RelayChatServer, [count LineClients, named
    p0, p1, ..., each in the room, every notice of their arrivals read])."""
    clients = []

    def start(count, **options):
        written(CHALLENGE, *PARTS)
        server = start_server(TARGET, **options)
        people = []
        for number in range(count):
            client = LineClient(server.address, timeout=TIMEOUT)
            clients.append(client)
            client.joined()
            client.send(f"/nick p{number}")
            client.read_until(f"* you are now p{number}")
            client.name = f"p{number}"
            people.append(client)
        # The answer to a command goes straight to its member, and may pass notices that wait
        # for the relay. The relay keeps the order it was given: a line queued after all of
        # them is the last one each member has to read.
        last, first = people[-1], people[0]
        for speaker in (last, first) if count > 1 else ():
            speaker.send("settled")
            for client in people:
                if client is not speaker:
                    client.read_until(f"<{speaker.name}> settled")
        return server, people

    yield start
    for client in clients:
        client.close()


def heard_from(reader, count):
    """{speaker: [what it said, in the order heard]} of ``reader``'s next ``count`` chat lines."""
    got, deadline = {}, within(TIMEOUT * 2)
    try:
        for _ in range(count + 100):  # notices too
            if sum(map(len, got.values())) >= count:
                break
            line = reader.read_line(timeout=left(deadline))
            if chat_lines([line]):
                name, _, text = line[1:].partition("> ")
                got.setdefault(name, []).append(text)
    except (OSError, EOFError):
        pass  # what is missing is reported
    return got


def difference(got, wanted):
    for name, theirs in sorted(wanted.items()):
        mine = got.get(name, [])
        if mine != theirs:
            missing = [text for text in theirs if text not in mine]
            return (f"of {name}'s lines got {len(mine)} of {len(theirs)}, missing {missing[:3]}, "
                    f"in order: {mine == sorted(mine)}")
    extra = sorted(set(got) - set(wanted))
    return f"got lines of {extra[0]}: {got[extra[0]][:2]}" if extra else "no difference"


@pytest.mark.points(3)
def test_every_line_reaches_every_other_member_once_in_order(room):
    server, people = room(8)
    talkers, lines = people[:5], 100
    for start in range(0, lines, 10):  # turns of 10 lines each, so that the relays interleave
        for talker in talkers:
            talker.send_raw("".join(f"{n:03}\n" for n in range(start, start + 10)).encode())
    for reader in people:
        wanted = {talker.name: [f"{n:03}" for n in range(lines)] for talker in talkers
                  if talker is not reader}
        got = heard_from(reader, sum(map(len, wanted.values())))
        assert got == wanted, (
            f"5 people each said 100 lines at once: {reader.name} should get every line of the "
            f"others once, in each one's order, and none of its own; {difference(got, wanted)}")


class Held:
    """The relay's lock (``queued``), held by the judge while it queues lines itself; at the
    end it wakes the relay thread, unless ``wake`` is False."""

    def __init__(self, sandbox, server, wake=True):
        self.queued = server.remote.get("queued")
        self.queue = sandbox.call("builtins:getattr", server.remote, "queue", _keep=True)  # the list itself
        self.wake = wake

    def __enter__(self):
        self.queued.acquire()
        return self

    def put(self, texts, sender=None):
        self.queue.append((texts, sender))

    def __exit__(self, *exc_info):
        if self.wake:
            self.queued.notify()
        self.queued.release()


def sends_to(sandbox, members):
    """Count, from now on, the sends to each member's outbox; a function that gives the counts."""
    outboxes = [member.get("outbox") for member in members]
    for outbox in outboxes:
        sandbox.request("spy", obj=outbox._number, name="send")
    return lambda: [sandbox.request("calls", obj=outbox._number, name="send") for outbox in outboxes]


@pytest.mark.points(3)
def test_one_pass_sends_each_member_one_batch(room, sandbox):
    server, (p0, p1, p2) = room(3)
    members = server.remote.get("room").members()
    counts = sends_to(sandbox, members)
    with Held(sandbox, server) as held:  # the relay cannot take anything until all three are queued
        held.put(["<p0> one", "<p0> two"], members[0])
        held.put(["<p1> three"], members[1])
        held.put(["* a notice for everyone"])
    story = ("while the relay's lock was held, p0's two lines, p1's line, and a notice for "
             "everyone (sender None) were queued")
    for client, wanted in ((p0, ["<p1> three", "* a notice for everyone"]),
                           (p1, ["<p0> one", "<p0> two", "* a notice for everyone"]),
                           (p2, ["<p0> one", "<p0> two", "<p1> three", "* a notice for everyone"])):
        got = [client.read_line() for _ in wanted]
        assert got == wanted, f"{story}: {client.name} should get {wanted}, got {got}"
    got = counts()
    assert got == [1, 1, 1], (
        f"{story}: the next pass should take them all, and send each member one batch; the "
        f"members' outboxes got {got} sends")


@pytest.mark.points(1)
def test_a_thread_per_reader_and_one_relay_thread(room, sandbox):
    before = sandbox.call("threading:active_count")
    server, people = room(10)
    running = sandbox.call("threading:active_count") - before
    assert running == 12, (
        f"with 10 people in the room the server should run 12 threads (one accepting, one "
        f"relaying, one reading each member's lines), not {running}")
    people[0].send("twelve threads")
    people[9].read_until("<p0> twelve threads")


@pytest.mark.points(1)
def test_notices_and_commands_as_before(room):
    server, (p0, p1, p2) = room(3)
    p1.send("/nick bob")
    assert p1.read_line() == "* you are now bob", "p1 sent '/nick bob'"
    for client in (p0, p2):
        got = client.read_line()
        assert got == "* p1 is now bob", f"p1 sent '/nick bob': {client.name} should get " \
                                         f"'* p1 is now bob', got {got!r}"
    p1.send("/quit")
    assert p1.read_to_end() == ["* Bye!"], "after /quit, bob should get '* Bye!', then the end"
    for client in (p0, p2):
        got = client.read_line()
        assert got == "* bob left", f"bob quit: {client.name} should get '* bob left', got {got!r}"


@pytest.mark.points(2)
def test_stop_sends_what_is_queued_then_goodbye(room, sandbox):
    server, people = room(3)
    with Held(sandbox, server, wake=False) as held:  # stop() comes before the relay thread notices them
        held.put([f"<p0> last {n}" for n in range(3)], server.remote.get("room").members()[0])
    started = time.monotonic()
    server.remote.stop()
    took = time.monotonic() - started
    assert took <= 1.5, f"stop() should end the server within a second; it took {took:.1f} s"
    for client in people[1:]:
        got = client.read_to_end()
        wanted = ["<p0> last 0", "<p0> last 1", "<p0> last 2", GOODBYE]
        assert got == wanted, (
            f"three lines of p0 were queued, then the server stopped: {client.name} should get "
            f"{wanted}, then the end of the connection; got {got}")
