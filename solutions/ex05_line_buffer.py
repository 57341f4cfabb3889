"""Exercise 5, for lesson 5 (framing): turn a stream of bytes back into lines.

Write the body of ``feed``. Check your work with
    python tests/grade.py --student -k ex05
"""


class LineBuffer:
    """Collects received bytes and hands back the complete lines.

    ``self.pending`` holds the bytes of the line that has not ended yet, and
    ``self.discarding`` is True while the rest of a too-long line is thrown away.
    """

    def __init__(self, max_bytes=2048):
        self.max_bytes = max_bytes
        self.pending = b""
        self.discarding = False

    def feed(self, data):
        """Add the bytes ``data``; return the list of lines they complete.

        - A line ends with b"\\n"; return it without the newline, and without a
          b"\\r" just before it (some clients end lines with b"\\r\\n").
        - Keep an unfinished line for the next call: a line may arrive in
          many pieces, even one byte at a time, and a piece may hold several lines.
        - A line longer than ``max_bytes`` is refused: put ``None`` in the list,
          once, where the line would have been. Do not wait for its end to do
          so: as soon as the unfinished line is over ``max_bytes``, drop what you
          hold, add ``None``, and throw away the rest of that line as it comes,
          so that a peer sending megabytes without a newline costs no memory.
        - Work on bytes: never decode here (a character may be split in two).
        """
        ### BEGIN SOLUTION
        lines = []
        self.pending += data
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            line = line[:-1] if line.endswith(b"\r") else line
            if self.discarding:
                self.discarding = False
            elif len(line) > self.max_bytes:
                lines.append(None)
            else:
                lines.append(line)
        if len(self.pending) > self.max_bytes:
            self.pending = b""
            if not self.discarding:
                self.discarding = True
                lines.append(None)
        return lines
        ### END SOLUTION
