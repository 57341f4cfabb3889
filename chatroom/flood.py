"""Flood control: a person types a few lines a second; a script can send 75,000.

IRC servers answer floods with "fakelag": an address may send a short burst
at once, then only a few lines a second, however many connections it opens
or reopens (chatroom/defences.py keeps one bucket per address). Lines beyond
that are not dropped: the server reads no more from the flooder until the
next line is allowed, so TCP's flow control slows the flooder's machine too.
Everyone else is served by threads of their own and never waits.

The rule is a token bucket: it holds at most ``burst`` tokens and gains
``rate`` tokens a second; each line takes one.
"""

import time

BURST_LINES = 10
"""Lines an address may send at once: a short paste goes through untouched."""

LINES_PER_SECOND = 2.0
"""Lines a second after the burst: faster than anyone types for long."""


class TokenBucket:
    """How many lines may go now: ``burst`` at most, refilled at ``rate`` a second."""

    def __init__(self, burst=BURST_LINES, rate=LINES_PER_SECOND, clock=time.monotonic):
        self.burst, self.rate, self.clock = burst, rate, clock
        self.tokens = float(burst)  # a newcomer may send a burst at once
        self.checked = clock()

    def take(self, wanted):
        """Take a token for each of up to ``wanted`` lines; return how many may go now."""
        self._refill()
        granted = min(wanted, int(self.tokens))
        self.tokens -= granted
        return granted

    def wait_time(self):
        """Seconds until the next line may go (0.0 when one may go now)."""
        self._refill()
        return max(0.0, (1 - self.tokens) / self.rate)

    def is_full(self):
        """True when the bucket holds its whole burst again."""
        self._refill()
        return self.tokens >= self.burst

    def _refill(self):
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.checked) * self.rate)
        self.checked = now
