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
