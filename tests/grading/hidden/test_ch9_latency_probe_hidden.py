"""Hidden checks of challenge 9 (the latency probe): they ship only with the instructor's kit."""

import socket
import time

import pytest

from sandbox import RemoteError
from test_ch9_latency_probe import HOST, SCRIPT, judge_room, measure  # noqa: F401


@pytest.mark.points(1)
def test_hidden_only_its_own_lines_count(sandbox, judge_room):
    room = judge_room(hold=lambda number: 0.02)
    with socket.create_connection((HOST, room.port), timeout=2.0) as other:
        other.sendall(b"/who\n")  # once it is in the room, its lines reach the probe too
        for text in ("probe 1", "probe ffffffff 2", "<x> probe 3", "probe", "hello 4"):
            other.sendall(text.encode() + b"\n")
        result, _ = measure(sandbox, room, 6, 0.02, 1.0)
        for n in range(6):  # another probe, with its own token, at the same time
            other.sendall(f"probe 0badc0de {n}\n".encode())
    assert result["sent"] == 6 and result["lost"] == [] and len(result["latencies"]) == 6, (
        f"while someone else in the room sent lines that look like a probe's (another token, "
        f"no token), measure should count its own 6 lines, and only those: got {result}")
    assert all(seconds >= 0.02 for seconds in result["latencies"]), (
        f"the room held each line 20 ms: no latency can be shorter, got {result['latencies']}")


@pytest.mark.points(1)
def test_hidden_lines_are_sent_at_their_pace(sandbox, judge_room):
    room = judge_room(hold=lambda number: 0.0)
    measure(sandbox, room, 8, 0.03, 1.0)
    sent = room.probe_lines()
    assert [number for _, number in sent] == list(range(8)), (
        f"measure should send lines 0 to 7, in order: the room got {[n for _, n in sent]}")
    span = sent[-1][0] - sent[0][0]
    assert span >= 7 * 0.03 * 0.8, (
        f"8 lines one every 30 ms take 0.21 s to send; the room got them all within {span:.2f} s")


@pytest.mark.points(1)
def test_hidden_join_gives_up_after_its_timeout(sandbox, judge_room):
    room = judge_room(admit_after=3.0)  # the answer to /who comes too late
    started = time.monotonic()
    try:
        got = sandbox.call(f"{SCRIPT}:join", HOST, room.port, 0.3)
    except RemoteError as error:
        took = time.monotonic() - started
        assert error.is_a("TimeoutError") or error.is_a("timeout"), (
            f"join should raise socket.timeout when the room has not let it in within its "
            f"timeout; it raised {error}")
        assert took <= 1.0, f"join with a timeout of 0.3 s took {took:.1f} s to give up"
        return
    raise AssertionError(f"join with a timeout of 0.3 s, in a room that lets no one in for 3 s, "
                         f"should raise socket.timeout; it returned {got!r}")
