"""The wire protocol on its own: framing, decoding, cleaning, encoding."""

import pytest

from chatroom.protocol import (MAX_LINE_BYTES, LineBuffer, LineRejected, clean_text,
                               decode_line, encode_line)

pytestmark = pytest.mark.timeout(10)


def test_line_split_across_feeds_comes_out_whole():
    lines = LineBuffer()
    assert lines.feed(b"hel") == []
    assert lines.feed(b"lo wor") == []
    assert lines.feed(b"ld\n") == [b"hello world"]


def test_coalesced_lines_come_out_separately():
    assert LineBuffer().feed(b"one\ntwo\nthree\npart") == [b"one", b"two", b"three"]


def test_byte_at_a_time():
    lines, out = LineBuffer(), []
    for byte in b"ab\ncd\n":
        out += lines.feed(bytes([byte]))
    assert out == [b"ab", b"cd"]


def test_crlf_is_one_line_end():
    assert LineBuffer().feed(b"windows\r\nunix\n") == [b"windows", b"unix"]


def test_multibyte_character_split_between_feeds_is_kept_whole():
    data = "café ☕\n".encode("utf-8")
    lines = LineBuffer()
    out = [line for byte in data for line in lines.feed(bytes([byte]))]
    assert [decode_line(line) for line in out] == ["café ☕"]


def test_pending_and_clear():
    lines = LineBuffer()
    lines.feed(b"done\nunfinished")
    assert lines.pending() == b"unfinished"
    lines.clear()
    assert lines.pending() == b""


def test_line_of_exactly_max_bytes_passes():
    assert LineBuffer(10).feed(b"x" * 10 + b"\n") == [b"x" * 10]


def test_too_long_line_becomes_one_none():
    assert LineBuffer(10).feed(b"x" * 11 + b"\nok\n") == [None, b"ok"]


def test_endless_line_is_dropped_once_and_memory_stays_bounded():
    lines, out = LineBuffer(10), []
    for _ in range(1000):
        out += lines.feed(b"y" * 7)
        assert len(lines.pending()) <= 10
    out += lines.feed(b"tail\nnext\n")
    assert out == [None, b"next"]


def test_decode_line_accepts_utf8():
    assert decode_line("naïve".encode("utf-8")) == "naïve"


def test_decode_line_rejects_invalid_utf8():
    with pytest.raises(LineRejected, match="not valid UTF-8"):
        decode_line(b"\xff\xfe bad")


def test_decode_line_rejects_too_long_marker():
    with pytest.raises(LineRejected, match=str(MAX_LINE_BYTES)):
        decode_line(None)


@pytest.mark.parametrize("dirty, clean", [
    ("\x1b[31mred\x1b[0m", "red"),                      # CSI colour
    ("\x1b[2J\x1b[Hwiped", "wiped"),                      # CSI clear screen
    ("\x1b]0;pwned title\x07after", "after"),              # OSC with BEL
    ("\x1b]8;;http://x\x1b\\link", "link"),               # OSC with ST
    ("bell\x07 back\x08space\x00nul", "bell backspacenul"),  # C0
    ("\x9b31mc1\x85next", "c1next"),                      # C1 CSI and NEL
    ("a\u202eevil\u202c", "aevil"),                       # bidi override
    ("\u2066iso\u2069", "iso"),                           # bidi isolate
    ("tab\there", "tab here"),
    ("cr\rreturn\x7f", "crreturn"),
    ("plain ünïcødé ☕", "plain ünïcødé ☕"),
    ("zero\u200bwidth\u200c\u200d\u2060\ufeff", "zerowidth"),  # invisible format characters
    ("l\u200er\u200f\u061c", "lr"),                   # bidi marks: LRM, RLM, ALM
    ("seen" + "".join(chr(0xE0000 + ord(c)) for c in "hidden"), "seen"),  # tag characters
])
def test_clean_text(dirty, clean):
    assert clean_text(dirty) == clean


def test_the_tail_of_a_discarded_line_is_never_pending():
    """A line too long is dropped; what follows of it, before its end, is not a line to
    show either (a client's show_unfinished used to print its last 1,696 bytes)."""
    lines = LineBuffer(max_bytes=10)
    assert lines.feed(b"x" * 25) == [None]
    assert lines.pending() == b""
    assert lines.feed(b"tail") == [] and lines.pending() == b""
    assert lines.feed(b" end\nnext") == [] and lines.pending() == b"next"


def test_encode_line_frames_with_newline():
    assert encode_line("héllo") == "héllo".encode("utf-8") + b"\n"
    assert LineBuffer().feed(encode_line("a") + encode_line("b")) == [b"a", b"b"]
