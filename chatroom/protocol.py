"""The wire protocol: UTF-8 text, one message per line.

TCP delivers a stream of bytes, not messages: one ``recv`` may hold half a
line or three lines at once. ``LineBuffer`` turns the stream back into lines.
``decode_line`` and ``clean_text`` make sure a line is text that is safe to
show on somebody else's terminal, and ``encode_line`` frames a line to send.
"""

import re
import unicodedata

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
        in its place, and its bytes are dropped as they come: however long it
        is, no more than ``max_bytes`` of it are ever held, and a last b"\r",
        which may begin the line's end. Cut anywhere, the same bytes give the
        same lines.
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
        if len(self._pending) - self._pending.endswith(b"\r") > self.max_bytes:
            # Drop the unfinished line now rather than hold megabytes for it.
            self._pending.clear()
            if not self._discarding:
                self._discarding = True
                lines.append(None)
        return lines
        ### END SOLUTION

    def pending(self):
        """The bytes of the unfinished line, for a peer that never ends it (b"" while
        a line too long is being discarded: its tail is not a line either)."""
        return b"" if self._discarding else bytes(self._pending)

    def clear(self):
        """Forget the unfinished line."""
        self._pending.clear()


class LineRejected(ValueError):
    """A line that will not be relayed; ``str(error)`` is the notice for its sender."""


def decode_line(raw):
    """The text of one received line (UTF-8), or ``LineRejected`` with the notice
    for its sender: "line longer than 2048 bytes; not sent" for None (what
    LineBuffer gives for a line too long), and "line is not valid UTF-8 text;
    not sent" for bytes that are not UTF-8 (rejected whole: a line is never
    relayed half-decoded)."""
    ### BEGIN SOLUTION
    if raw is None:
        raise LineRejected(f"line longer than {MAX_LINE_BYTES} bytes; not sent")
    try:
        return raw.decode(ENCODING)
    except UnicodeDecodeError:
        raise LineRejected("line is not valid UTF-8 text; not sent") from None
    ### END SOLUTION


def clean_text(text):
    r"""Text that is safe to show on a terminal: no escape sequences, no control
    characters, nothing invisible.

    Removes CSI sequences (ESC [ ... final byte, or the one-byte CSI \x9b),
    OSC sequences (ESC ] ... up to BEL or ESC \), any other ESC with the
    character after it, C0 and C1 control characters, and every Unicode
    format character (category Cf): the bidirectional embeddings, overrides,
    isolates and marks (U+202A-U+202E, U+2066-U+2069, LRM, RLM, ALM), which
    make text display in another order than it was typed; the zero-width
    ones (U+200B-U+200D, U+2060, U+FEFF); and the tag characters
    (U+E0020-U+E007F), an invisible copy of ASCII that can hide a sentence
    inside a line. A tab becomes a space. (The zero-width joiner goes too,
    so a joined emoji such as a family shows as its separate people.)
    """
    ### BEGIN SOLUTION
    escape_sequence = re.compile(
        r"\x1b\[[0-?]*[ -/]*[@-~]"          # CSI: ESC [ parameters, final byte
        r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: ESC ] text, BEL or ESC \
        r"|\x1b[\s\S]?"                     # any other ESC and the character after it
        r"|\x9b[0-?]*[ -/]*[@-~]"           # the one-byte CSI
    )
    control_character = re.compile(r"[\x00-\x1f\x7f-\x9f]")
    text = control_character.sub("", escape_sequence.sub("", text).replace("\t", " "))
    return "".join(char for char in text if unicodedata.category(char) != "Cf")
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
    """Frame one line of text for the wire: its UTF-8 bytes, ended by b"\n"."""
    ### BEGIN SOLUTION
    return text.encode(ENCODING) + b"\n"
    ### END SOLUTION
