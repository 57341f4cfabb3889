"""Hidden checks of exercise 8 (percentile, summary): they ship only with the instructor's kit."""

import pytest


@pytest.mark.points(1)
def test_hidden_one_value_is_every_percentile(sandbox):
    for p in (0, 50, 99, 100):
        got = sandbox.call("chatroom.measure:percentile", [7.5], p)
        assert got == 7.5, f"percentile([7.5], {p}) should be 7.5, got {got!r}"


@pytest.mark.points(1)
def test_hidden_integers_and_floats_mix(sandbox):
    got = sandbox.call("chatroom.measure:percentile", [1, 2.5, 4], 25)
    assert got == pytest.approx(1.75), f"percentile([1, 2.5, 4], 25) should be 1.75, got {got!r}"
