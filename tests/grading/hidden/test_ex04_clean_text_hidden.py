"""Hidden checks of exercise 4 (clean_text): they ship only with the instructor's kit."""

import pytest


@pytest.mark.points(1)
def test_hidden_a_csi_sequence_with_parameters_and_intermediates(sandbox):
    got = sandbox.call("chatroom.protocol:clean_text", "a\x1b[1;31;4 qb")
    assert got == "ab", f"clean_text('a\\x1b[1;31;4 qb') should return 'ab', got {got!r}"


@pytest.mark.points(1)
def test_hidden_an_unfinished_escape_at_the_end(sandbox):
    got = sandbox.call("chatroom.protocol:clean_text", "hello\x1b")
    assert got == "hello", f"clean_text('hello\\x1b') should return 'hello', got {got!r}"
