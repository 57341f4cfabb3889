"""Exercise 5 (lesson 5): the non-blocking outbox, Outbox.send, flush, has_backlog, write_now,
and wait_for_socket (chatroom/outbox.py)."""

import socket
import struct
import time

import pytest

from wire import left, readable, receive, timeout_of, within

SMALL = 4096  # socket buffers, so that a reader that never reads fills them fast


@pytest.fixture
def pair(sandbox):
    """(the sandbox's sending socket, the judge's reading end)."""
    return sandbox.connect_pair()


@pytest.fixture
def stuck_pair(pair):
    """The same with small buffers; the judge reads only when the test says so."""
    sender, reader = pair
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)
    return sender, reader


def Outbox(sandbox, sock, **options):  # noqa: N802 -- it stands for the student's class
    return sandbox.new("chatroom.outbox:Outbox", sock, **options)


def read_exactly(sock, size):
    """``size`` bytes, or fewer if the socket's timeout passes first (counted from the call)."""
    return receive(sock, size)


@pytest.mark.points(2)
def test_a_send_that_fits_goes_out_at_once(sandbox, pair):
    sender, reader = pair
    outbox = Outbox(sandbox, sender)
    assert outbox.send(b"hello\n") is True, "send(b'hello\\n') to a reading client should return True"
    got = read_exactly(reader, 6)
    assert got == b"hello\n", f"the client should get b'hello\\n' at once, got {got!r}"
    assert outbox.has_backlog() is False, "everything fitted in the kernel's buffer: nothing should wait"


@pytest.mark.points(2)
def test_send_never_blocks_on_a_client_that_stops_reading(sandbox, stuck_pair):
    sender, reader = stuck_pair
    outbox = Outbox(sandbox, sender, max_backlog=10_000_000)
    for n in range(200):  # 2 MB: far more than the socket buffers hold
        assert outbox.send(b"%09d\n" % n * 1000) is True, (
            f"send number {n} returned False, but the backlog is under max_backlog")
    assert outbox.has_backlog() is True, "the client reads nothing, so some data must wait in the backlog"


@pytest.mark.points(2)
def test_an_overflowing_backlog_breaks_the_outbox(sandbox, stuck_pair):
    sender, reader = stuck_pair
    outbox = Outbox(sandbox, sender, max_backlog=50_000)
    answers = [outbox.send(b"z" * 1000) for _ in range(500)]
    assert False in answers, ("500 kB for a client that never reads, with max_backlog=50_000: "
                              "send never returned False")
    first = answers.index(False)
    assert all(answer is False for answer in answers[first:]), (
        "once send has returned False, it should return False for good")
    assert outbox.get("broken") is True, "a client too far behind should make outbox.broken True"
    assert outbox.get("overflowed") is True, "a backlog over max_backlog should make outbox.overflowed True"


@pytest.mark.points(2)
def test_the_backlog_arrives_whole_and_in_order(sandbox, stuck_pair):
    sender, reader = stuck_pair
    outbox = Outbox(sandbox, sender, max_backlog=10_000_000)
    lines = [b"line %06d\n" % n for n in range(20_000)]  # 240 kB: far more than the buffers hold
    for start in range(0, len(lines), 1_000):
        outbox.send(b"".join(lines[start:start + 1_000]))
    assert outbox.has_backlog() is True, "the client reads nothing yet, so some data must wait in the backlog"
    expected = b"".join(lines)
    received = bytearray()
    deadline = within(5 * timeout_of(reader))  # for all of it, on a busy machine too
    for _ in range(10_000):  # read, and flush what the socket now takes, until all is there
        if not readable(reader, left(deadline)):
            break
        chunk = reader.recv(65536)
        received += chunk
        outbox.flush()
        if not chunk or len(received) >= len(expected):
            break
    assert bytes(received) == expected, (
        f"the client got {len(received)} of {len(expected)} bytes, or not in order: write_now "
        "should send the backlog from the front and keep the rest")
    assert outbox.has_backlog() is False, (
        "the client has read everything, and flush() sent the rest: has_backlog() should be False")


@pytest.mark.points(2)
def test_a_client_that_has_gone_breaks_the_outbox(sandbox, pair):
    sender, reader = pair
    outbox = Outbox(sandbox, sender)
    reader.close()
    answers = []
    for _ in range(100):  # the first send may go out before the peer's reset comes back
        answers.append(outbox.send(b"anyone there?\n"))
        if answers[-1] is False:
            break
        sandbox.call("time:sleep", 0.01)
    assert False in answers, "the client has closed its socket: send should return False sooner or later"
    assert outbox.get("broken") is True, "a client that has gone should make outbox.broken True"
    assert outbox.get("overflowed") is False, "a client that has gone did not overflow: overflowed stays False"


def waited(sandbox, sock, timeout, **options):
    """(what wait_for_socket(sock, timeout, **options) said, as two bools; the seconds it took)."""
    started = time.monotonic()
    got = sandbox.call("chatroom.outbox:wait_for_socket", sock, timeout, **options)
    took = time.monotonic() - started
    assert isinstance(got, (list, tuple)) and len(got) == 2, (
        f"wait_for_socket should return (readable, writable), got {got!r}")
    return tuple(bool(flag) for flag in got), took


@pytest.mark.points(2)
def test_wait_for_socket_says_what_the_socket_can_do(sandbox, pair):
    sender, reader = pair
    got, took = waited(sandbox, sender, 0.3)
    assert got == (False, False), f"nothing to read: wait_for_socket(sock, 0.3) gave {got}"
    assert took >= 0.25, f"with nothing to read, it should wait its timeout (0.3 s), not {took:.2f} s"
    got, took = waited(sandbox, sender, 2.0, writing=True)
    assert got == (False, True) and took < 1.0, (
        f"a socket that can take data is writable at once: wait_for_socket(sock, 2.0, "
        f"writing=True) gave {got} after {took:.1f} s")
    reader.sendall(b"hi\n")
    got, took = waited(sandbox, sender, 2.0)
    assert got == (True, False) and took < 1.0, (
        f"data came: wait_for_socket(sock, 2.0) should give (True, False) at once, gave {got} "
        f"after {took:.1f} s")
    got, _ = waited(sandbox, sender, 2.0, writing=True, reading=False)
    assert got == (False, True), (
        f"with reading=False, data waiting does not count: wait_for_socket(sock, 2.0, "
        f"writing=True, reading=False) gave {got}")
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    reader.close()  # a reset: the connection broke
    got, took = waited(sandbox, sender, 2.0)
    assert got[0] is True and took < 1.0, (
        f"a connection that broke counts as readable (a recv then says why): wait_for_socket gave "
        f"{got} after {took:.1f} s")
