"""Hidden checks of challenge 8 (the relay thread): they ship only with the instructor's kit."""

import contextlib
import socket

import pytest

from test_ch8_relay_server import TIMEOUT, Held, difference, heard_from, room, sends_to  # noqa: F401


@pytest.mark.points(1)
def test_hidden_a_member_who_sent_nothing_else_gets_no_empty_send(room, sandbox):
    server, (p0, p1) = room(2)
    members = server.remote.get("room").members()
    counts = sends_to(sandbox, members)
    with Held(sandbox, server) as held:
        held.put(["<p0> only mine"], members[0])
    assert p1.read_line() == "<p0> only mine", "p0's line, queued, should reach p1"
    p1.send("/who")  # its answer comes after the pass has sent all it sends
    p1.read_until(lambda line: line.startswith("* 2 here: "))
    got = counts()
    assert got[0] == 0, (
        f"a pass that holds only p0's own lines has nothing for p0: it should send p0 nothing "
        f"(not even b''), yet p0's outbox got {got[0]} sends")


@pytest.mark.points(1)
def test_hidden_once_the_relay_has_ended_lines_go_from_the_senders_thread(room, sandbox):
    server, (p0, p1, p2) = room(3)
    queued = server.remote.get("queued")
    queued.acquire()
    server.remote.set("relaying", False)  # as if the relay thread had ended
    queued.release()
    p0.send("straight through")
    for client in (p1, p2):
        got = client.read_line()
        assert got == "<p0> straight through", (
            f"with relaying False (the relay thread has ended), broadcast_lines should send from "
            f"the sender's thread: {client.name} should get '<p0> straight through', got {got!r}")


@pytest.mark.points(1)
def test_hidden_a_stuck_reader_is_dropped_and_the_others_go_on(room):
    server, (sender, reader) = room(2, max_backlog=32 * 1024)
    with paused_reader(server.address):
        reader.read_until(lambda line: line.endswith(" joined"))
        for round_ in range(200):  # 50 kB a round, up to 10 MB
            sender.send_raw(b"".join(b"%03d %02d " % (round_, n) + b"z" * 1000 + b"\n"
                                     for n in range(50)))
            got = reader.read_until(lambda line: line.startswith(f"<p0> {round_:03} 49 "))
            if "* 127.0.0.1 left" in got:
                return
    raise AssertionError("a client that reads nothing was sent 10 MB of lines, and never dropped "
                         "(max_backlog was 32 KiB): the others should get '* 127.0.0.1 left'")


@contextlib.contextmanager
def paused_reader(address):
    """A client with a small receive buffer, which never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)
    try:
        sock.connect(address)
        yield sock
    finally:
        sock.close()


@pytest.mark.points(1)
def test_hidden_forty_readers_and_eight_talkers(room):
    server, people = room(40)
    talkers, lines = people[:8], 30
    for start in range(0, lines, 10):
        for talker in talkers:
            talker.send_raw("".join(f"{n:03}\n" for n in range(start, start + 10)).encode())
    for reader in people[::3]:
        wanted = {talker.name: [f"{n:03}" for n in range(lines)] for talker in talkers
                  if talker is not reader}
        got = heard_from(reader, sum(map(len, wanted.values())))
        assert got == wanted, (
            f"8 of 40 people each said 30 lines at once: {reader.name} should get every line of "
            f"the others once, in each one's order; {difference(got, wanted)}")
