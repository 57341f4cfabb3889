"""Exercise 8 (lesson 8): percentile and summary of latencies (chatroom/measure.py)."""

import random
import statistics

import pytest


@pytest.fixture(scope="module")
def ex(piece):
    return piece("measure")


@pytest.mark.points(2)
def test_the_median_of_an_even_count_interpolates(ex):
    got = ex.percentile([1, 2, 3, 4], 50)
    assert got == pytest.approx(2.5), f"percentile([1, 2, 3, 4], 50) should be 2.5, got {got!r}"


@pytest.mark.points(1)
def test_0_and_100_are_the_smallest_and_largest(ex):
    values = [5.0, 1.0, 9.0, 3.0]
    assert ex.percentile(values, 0) == 1.0, f"percentile({values}, 0) should be 1.0"
    assert ex.percentile(values, 100) == 9.0, f"percentile({values}, 100) should be 9.0"


@pytest.mark.points(2)
def test_every_percentile_matches_numpys_linear_method(ex):
    values = [random.Random(n).expovariate(1.0) for n in range(37)]
    reference = statistics.quantiles(values, n=100, method="inclusive")  # the same method
    for p in range(1, 100):
        got = ex.percentile(values, p)
        assert got == pytest.approx(reference[p - 1]), (
            f"percentile(values, {p}) should be {reference[p - 1]:.6f}, got {got!r}: sort, find "
            "position (n - 1) * p / 100, interpolate between the neighbours")


@pytest.mark.points(1)
def test_the_list_given_is_not_changed(ex):
    values = [3, 1, 2]
    ex.percentile(values, 50)
    assert values == [3, 1, 2], f"percentile sorted the caller's list: it is now {values}"


@pytest.mark.points(2)
def test_summary(ex):
    latencies = [1.0] * 97 + [2.0, 40.0, 50.0]
    got = ex.summary(latencies)
    assert set(got) == {"count", "p50", "p99", "max"}, (
        f"summary should have the keys count, p50, p99 and max; it has {sorted(got)}")
    assert got["count"] == 100, f"count should be 100, got {got['count']!r}"
    assert got["p50"] == pytest.approx(1.0), f"p50 should be 1.0, got {got['p50']!r}"
    assert got["p99"] == pytest.approx(40.1), f"p99 should be 40.1, got {got['p99']!r}"
    assert got["max"] == 50.0, f"max should be 50.0, got {got['max']!r}"


@pytest.mark.points(1)
def test_no_values_is_an_error(ex):
    with pytest.raises(ValueError):
        got = ex.percentile([], 50)
        raise AssertionError(f"percentile([], 50) should raise ValueError; it returned {got!r}")
