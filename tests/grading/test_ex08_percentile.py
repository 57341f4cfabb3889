"""Exercise 8 (lesson 8): percentile and summary of latencies (chatroom/measure.py)."""

import random
import statistics

import pytest

from sandbox import RemoteError


@pytest.fixture
def percentile(sandbox):
    return lambda values, p: sandbox.call("chatroom.measure:percentile", values, p)


@pytest.mark.points(2)
def test_the_median_of_an_even_count_interpolates(percentile):
    got = percentile([1, 2, 3, 4], 50)
    assert got == pytest.approx(2.5), f"percentile([1, 2, 3, 4], 50) should be 2.5, got {got!r}"


@pytest.mark.points(1)
def test_0_and_100_are_the_smallest_and_largest(percentile):
    values = [5.0, 1.0, 9.0, 3.0]
    assert percentile(values, 0) == 1.0, f"percentile({values}, 0) should be 1.0"
    assert percentile(values, 100) == 9.0, f"percentile({values}, 100) should be 9.0"


@pytest.mark.points(2)
def test_every_percentile_matches_numpys_linear_method(percentile):
    values = [random.Random(n).expovariate(1.0) for n in range(37)]
    reference = statistics.quantiles(values, n=100, method="inclusive")  # the same method
    for p in range(1, 100):
        got = percentile(values, p)
        assert got == pytest.approx(reference[p - 1]), (
            f"percentile(values, {p}) should be {reference[p - 1]:.6f}, got {got!r}: sort, find "
            "position (n - 1) * p / 100, interpolate between the neighbours")


@pytest.mark.points(1)
def test_the_list_given_is_not_changed(sandbox):
    values = sandbox.new("builtins:list", [3, 1, 2], _keep=True)
    sandbox.call("chatroom.measure:percentile", values, 50)
    after = sandbox.call("builtins:list", values)
    assert after == [3, 1, 2], f"percentile sorted the caller's list: it is now {after}"


@pytest.mark.points(2)
def test_summary(sandbox):
    latencies = [1.0] * 97 + [2.0, 40.0, 50.0]
    got = sandbox.call("chatroom.measure:summary", latencies)
    assert isinstance(got, dict) and set(got) == {"count", "p50", "p99", "max"}, (
        f"summary should be a dict with the keys count, p50, p99 and max; got {got!r:.100}")
    assert got["count"] == 100, f"count should be 100, got {got['count']!r}"
    assert got["p50"] == pytest.approx(1.0), f"p50 should be 1.0, got {got['p50']!r}"
    assert got["p99"] == pytest.approx(40.1), f"p99 should be 40.1, got {got['p99']!r}"
    assert got["max"] == 50.0, f"max should be 50.0, got {got['max']!r}"


@pytest.mark.points(1)
def test_no_values_is_an_error(sandbox):
    try:
        got = sandbox.call("chatroom.measure:percentile", [], 50)
    except RemoteError as error:
        assert error.is_a("ValueError"), f"percentile([], 50) should raise ValueError, not {error.kind}"
        return
    raise AssertionError(f"percentile([], 50) should raise ValueError; it returned {got!r}")
