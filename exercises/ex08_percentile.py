"""Exercise 8, for lesson 8 (measuring): percentiles of latencies.

Write the bodies of ``percentile`` and ``summary``. Check your work with
    python tests/grade.py --student -k ex08
"""

import math


def percentile(values, p):
    """The ``p``-th percentile (0 to 100) of the numbers ``values``.

    Sort the values (without changing the list you were given); the
    percentile sits at position (n - 1) * p / 100 in the sorted list. When that
    position falls between two values, interpolate linearly between them, as
    NumPy does by default: percentile([1, 2, 3, 4], 50) == 2.5.
    """
    raise NotImplementedError("percentile(): yours to write")


def summary(values):
    """A dict with the keys "count", "p50", "p99" and "max" for ``values``."""
    raise NotImplementedError("summary(): yours to write")
