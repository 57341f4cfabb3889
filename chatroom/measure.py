"""Measuring the chat room: percentiles of latencies.

An average hides the slow few: a chat where one line in a hundred takes a
second feels broken, whatever the mean says. So the lessons and the
benchmark report the median (p50), the 99th percentile (p99) and the worst.
"""

import math


def percentile(values, p):
    """The ``p``-th percentile (0 to 100) of the numbers ``values``.

    Sort the values (without changing the list you were given); the
    percentile sits at position (n - 1) * p / 100 in the sorted list. When
    that position falls between two values, interpolate linearly between
    them, as NumPy does by default: percentile([1, 2, 3, 4], 50) == 2.5.
    An empty ``values`` raises ValueError.
    """
    ### BEGIN SOLUTION
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    ### END SOLUTION


def summary(values):
    """A dict with the keys "count", "p50", "p99" and "max" for ``values``."""
    ### BEGIN SOLUTION
    return {"count": len(values), "p50": percentile(values, 50),
            "p99": percentile(values, 99), "max": max(values)}
    ### END SOLUTION
