"""Hidden checks of exercise 5 (the outbox): they ship only with the instructor's kit."""

import pytest

from sandbox import RemoteError
from test_ex05_outbox import Outbox, pair, stuck_pair, waited  # noqa: F401
from wire import left, readable, timeout_of, within


def fill(sock, limit=1000):
    """Send into the sandbox's socket ``sock``, which no one reads, until it takes no more."""
    sock.setblocking(False)
    for _ in range(limit):
        try:
            sock.send(b"x" * 65536)
        except RemoteError as error:
            if error.is_a("BlockingIOError"):
                return
            raise
    raise AssertionError("the socket's buffers never filled")


@pytest.mark.points(1)
def test_hidden_sends_and_flushes_from_many_threads_keep_every_line_whole(sandbox, stuck_pair):
    sender, reader = stuck_pair
    outbox = Outbox(sandbox, sender, max_backlog=10_000_000)
    plans = [[outbox.plan("send", b"t%d line %04d\n" % (thread, n)) for n in range(300)]
             for thread in range(4)]
    plans += [[outbox.plan("flush")] * 300 for _ in range(2)]
    errors = sandbox.threads(plans, switch=1e-6)
    assert not any(errors), (
        f"sending and flushing from 6 threads at once failed: {next(e for e in errors if e)}: "
        "flush writes under the outbox's lock, as send does")
    received = bytearray()
    expected = sum(len(b"t%d line %04d\n" % (thread, n)) for thread in range(4) for n in range(300))
    deadline = within(timeout_of(reader))
    # Read, and flush what the socket then takes, until every byte came or the time is up:
    # on a busy machine, bytes the outbox has handed on may still be in the kernel's buffers.
    while len(received) < expected and left(deadline) > 0:
        if readable(reader, min(0.1, left(deadline))):
            chunk = reader.recv(65536)
            if not chunk:
                break
            received += chunk
        outbox.flush()
    lines = bytes(received).split(b"\n")[:-1]
    for thread in range(4):
        own = [line for line in lines if line.startswith(b"t%d " % thread)]
        assert own == [b"t%d line %04d" % (thread, n) for n in range(300)], (
            f"4 threads sent 300 lines each while 2 flushed: thread {thread}'s lines came "
            f"{len(own)} times, or out of order, or broken; flush writes under the outbox's lock")
    assert len(lines) == 1200, f"1200 lines were sent, {len(lines)} came (some twice, or broken)"


@pytest.mark.points(1)
def test_hidden_a_full_socket_is_not_writable_until_its_timeout(sandbox, stuck_pair):
    sender, reader = stuck_pair
    fill(sender)
    got, took = waited(sandbox, sender, 0.3, writing=True, reading=False)
    assert got == (False, False) and took >= 0.25, (
        f"a socket whose buffers are full is not writable: wait_for_socket(sock, 0.3, "
        f"writing=True, reading=False) should give (False, False) after 0.3 s, gave {got} "
        f"after {took:.2f} s")
