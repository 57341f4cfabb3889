"""The wire protocol: UTF-8 text, one message per line.

TCP delivers a stream of bytes, not messages: one ``recv`` may hold half a
line or three lines at once. ``LineBuffer`` turns the stream back into lines.
``decode_line`` and ``clean_text`` make sure a line is text that is safe to
show on somebody else's terminal, and ``encode_line`` frames a line to send.
"""

import re

MAX_LINE_BYTES = 2048
"""The longest line the chat accepts, in bytes, without its newline."""

MAX_RELAYED_BYTES = MAX_LINE_BYTES + 64
"""The longest line a server sends: an accepted line with ``<name> `` before it."""

ENCODING = "utf-8"


class LineBuffer:
    """Collects received bytes and hands back complete lines.

    A line longer than ``max_bytes`` is discarded; ``feed`` returns ``None``
    in its place, once, so the sender can be told.
    """

    def __init__(self, max_bytes=MAX_LINE_BYTES):
        self.max_bytes = max_bytes
        self._pending = bytearray()
        self._discarding = False

    def feed(self, data):
        """Add received bytes; return the lines they complete, without newlines.

        A line ends at b"\n", and a b"\r" before it is dropped. The rest waits
        for the next call. A line longer than ``max_bytes`` gives ``None`` once
        in its place, and its bytes are dropped as they come, never stored.
        """
        ### BEGIN SOLUTION
        lines = []
        self._pending += data
        while True:
            end = self._pending.find(b"\n")
            if end < 0:
                break
            line = bytes(self._pending[:end]).rstrip(b"\r")
            del self._pending[: end + 1]
            if self._discarding:
                self._discarding = False
            elif len(line) > self.max_bytes:
                lines.append(None)
            else:
                lines.append(line)
        if len(self._pending) > self.max_bytes:
            # Drop the unfinished line now rather than hold megabytes for it.
            self._pending.clear()
            if not self._discarding:
                self._discarding = True
                lines.append(None)
        return lines
        ### END SOLUTION

    def pending(self):
        """The bytes of the unfinished line, for a peer that never ends it."""
        return bytes(self._pending)

    def clear(self):
        """Forget the unfinished line."""
        self._pending.clear()


class LineRejected(ValueError):
    """A line that will not be relayed; ``str(error)`` is the notice for its sender."""


def decode_line(raw):
    """Decode one received line, or raise ``LineRejected`` if it is not UTF-8."""
    if raw is None:
        raise LineRejected(f"line longer than {MAX_LINE_BYTES} bytes; not sent")
    try:
        return raw.decode(ENCODING)
    except UnicodeDecodeError:
        raise LineRejected("line is not valid UTF-8 text; not sent") from None


def clean_text(text):
    r"""Text that is safe to show on a terminal: no escape sequences, no control characters.

    Removes CSI sequences (ESC [ ... final byte, or the one-byte CSI \x9b),
    OSC sequences (ESC ] ... up to BEL or ESC \), any other ESC with the
    character after it, C0 and C1 control characters, and the bidirectional
    overrides (U+202A-U+202E, U+2066-U+2069). A tab becomes a space.
    """
    ### BEGIN SOLUTION
    escape_sequence = re.compile(
        r"\x1b\[[0-?]*[ -/]*[@-~]"          # CSI: ESC [ parameters, final byte
        r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: ESC ] text, BEL or ESC \
        r"|\x1b[\s\S]?"                     # any other ESC and the character after it
        r"|\x9b[0-?]*[ -/]*[@-~]"           # the one-byte CSI
    )
    # C0 and C1 control characters, and the bidirectional overrides that can
    # make text display in a different order from the one it was typed in.
    control_character = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
    text = escape_sequence.sub("", text).replace("\t", " ")
    return control_character.sub("", text)
    ### END SOLUTION


BLANKS = re.compile(r"[\s\u115f\u1160\u2800\u3164\uffa0]+")
"""Runs of white space, and of the characters that look blank: the Hangul fillers, the
empty Braille pattern."""


def squeeze_blanks(text):
    """``text`` with each run of blank characters made one space, and none at either end.

    A terminal wraps a long line into rows. Padding, such as 120 spaces, would let
    a sender choose what starts the next row, and make it look like a line of
    its own: ``* alice is now mallory``.
    """
    return BLANKS.sub(" ", text).strip()


def encode_line(text):
    """Frame one line of text for the wire."""
    return text.encode(ENCODING) + b"\n"
