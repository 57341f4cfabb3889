"""Exercise 2 (lesson 2): framing, LineBuffer.feed, decode_line and encode_line (chatroom/protocol.py)."""

import pytest

from sandbox import RemoteError


@pytest.fixture
def LineBuffer(sandbox):  # noqa: N802 -- it stands for the student's class
    return lambda **options: sandbox.new("chatroom.protocol:LineBuffer", **options)


@pytest.mark.points(1)
def test_coalesced_lines_come_out_separately(LineBuffer):
    got = LineBuffer().feed(b"one\ntwo\nthree\n")
    assert got == [b"one", b"two", b"three"], (
        f"feed(b'one\\ntwo\\nthree\\n') should return [b'one', b'two', b'three'], got {got!r}")


@pytest.mark.points(2)
def test_a_line_split_across_feeds_comes_out_whole(LineBuffer):
    lines = LineBuffer()
    first = lines.feed(b"hel")
    second = lines.feed(b"lo\nwor")
    third = lines.feed(b"ld\n")
    assert first == [], f"feed(b'hel') completes no line, so it should return [], got {first!r}"
    assert second == [b"hello"], f"then feed(b'lo\\nwor') should return [b'hello'], got {second!r}"
    assert third == [b"world"], f"then feed(b'ld\\n') should return [b'world'], got {third!r}"
    assert lines.pending() == b"", f"nothing should be pending after that, got {lines.pending()!r}"


@pytest.mark.points(1)
def test_byte_at_a_time_and_a_split_character(LineBuffer):
    lines, got = LineBuffer(), []
    for byte in "café ☕\n".encode("utf-8"):
        got += lines.feed(bytes([byte]))
    assert got == ["café ☕".encode("utf-8")], f"fed one byte at a time, the line came out as {got!r}"


@pytest.mark.points(1)
def test_crlf_ends_a_line_too(LineBuffer):
    got = LineBuffer().feed(b"hi\r\n")
    assert got == [b"hi"], f"feed(b'hi\\r\\n') should return [b'hi'], got {got!r}"


@pytest.mark.points(1)
def test_a_line_of_exactly_max_bytes_passes(LineBuffer):
    got = LineBuffer(max_bytes=10).feed(b"0123456789\n")
    assert got == [b"0123456789"], f"a 10-byte line with max_bytes=10 should pass, got {got!r}"


@pytest.mark.points(1)
def test_a_too_long_line_becomes_one_none(LineBuffer):
    got = LineBuffer(max_bytes=10).feed(b"short\n" + b"x" * 25 + b"\nafter\n")
    assert got == [b"short", None, b"after"], (
        f"with max_bytes=10, a 25-byte line between two short ones should give "
        f"[b'short', None, b'after'], got {got!r}")


@pytest.mark.points(1)
def test_an_endless_line_costs_no_memory(sandbox, LineBuffer):
    lines, got = LineBuffer(max_bytes=100), []
    chunk = b"y" * 65536
    sandbox.call("tracemalloc:start")
    for _ in range(80):  # 5 MiB without a newline
        got += lines.feed(chunk)
    _, peak = sandbox.call("tracemalloc:get_traced_memory")
    sandbox.call("tracemalloc:stop")
    got += lines.feed(b"\nnext\n")
    assert got == [None, b"next"], (
        f"5 MiB without a newline, then b'\\nnext\\n', should give [None, b'next'], "
        f"got {got[:5]!r}{' ...' if len(got) > 5 else ''}")
    assert peak < 1 << 20, (
        f"feeding 5 MiB without a newline used {peak / 2**20:.1f} MiB: drop an unfinished line "
        "as soon as it is over max_bytes")


def rejection(sandbox, raw):
    """The notice of the LineRejected that decode_line(raw) raises; fails, in plain words, if none."""
    try:
        got = sandbox.call("chatroom.protocol:decode_line", raw)
    except RemoteError as error:
        if error.is_a("LineRejected"):
            return error.message
        raise
    raise AssertionError(f"decode_line({raw!r}) should raise LineRejected; it returned {got!r}")


@pytest.mark.points(1)
def test_encode_line_frames_one_line_of_utf8(sandbox):
    for text in ("héllo ☕", ""):
        got = sandbox.call("chatroom.protocol:encode_line", text)
        wanted = text.encode("utf-8") + b"\n"
        assert got == wanted, f"encode_line({text!r}) should return {wanted!r}, got {got!r}"


@pytest.mark.points(1)
def test_decode_line_gives_the_text(sandbox):
    raw = "café ☕ <b>".encode("utf-8")
    got = sandbox.call("chatroom.protocol:decode_line", raw)
    assert got == "café ☕ <b>", f"decode_line({raw!r}) should return 'café ☕ <b>', got {got!r}"


@pytest.mark.points(1)
def test_decode_line_refuses_a_line_too_long_or_not_utf8(sandbox):
    for raw, notice in ((None, "line longer than 2048 bytes; not sent"),
                        (b"caf\xe9", "line is not valid UTF-8 text; not sent"),
                        (b"caf\xc3", "line is not valid UTF-8 text; not sent")):  # half of é
        got = rejection(sandbox, raw)
        assert got == notice, (
            f"decode_line({raw!r}) should raise LineRejected({notice!r}): its message is the "
            f"notice for the sender; the message was {got!r}")
