"""Hidden checks of exercise 2 (LineBuffer.feed): they ship only with the instructor's kit."""

import pytest


@pytest.fixture
def LineBuffer(sandbox):  # noqa: N802 -- it stands for the student's class
    return lambda **options: sandbox.new("chatroom.protocol:LineBuffer", **options)


@pytest.mark.points(1)
def test_hidden_empty_lines_are_lines(LineBuffer):
    got = LineBuffer().feed(b"\n\nx\n")
    assert got == [b"", b"", b"x"], f"feed(b'\\n\\nx\\n') should return [b'', b'', b'x'], got {got!r}"


@pytest.mark.points(1)
def test_hidden_a_lone_cr_does_not_end_a_line(LineBuffer):
    got = LineBuffer().feed(b"a\rb\n")
    assert got == [b"a\rb"], f"only b'\\n' ends a line: feed(b'a\\rb\\n') should give [b'a\\rb'], got {got!r}"


@pytest.mark.points(1)
def test_hidden_a_thousand_lines_in_one_feed(LineBuffer):
    data = b"".join(b"line %d\n" % n for n in range(1000))
    got = LineBuffer().feed(data)
    assert len(got) == 1000 and got[-1] == b"line 999", f"1000 lines in one feed gave {len(got)} lines"


@pytest.mark.points(1)
def test_hidden_a_line_of_max_bytes_ends_with_crlf_wherever_it_is_cut(LineBuffer):
    data = b"0123456789\r\nok\n"  # 10 bytes: the most max_bytes=10 lets through
    for cut in range(1, len(data)):
        lines = LineBuffer(max_bytes=10)
        got = lines.feed(data[:cut]) + lines.feed(data[cut:])
        assert got == [b"0123456789", b"ok"], (
            f"{data!r} cut after {cut} bytes gave {got!r}, not [b'0123456789', b'ok']: a last "
            "b'\\r' may begin the line's end b'\\r\\n', so it does not count towards max_bytes")
