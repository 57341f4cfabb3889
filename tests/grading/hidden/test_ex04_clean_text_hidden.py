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


@pytest.mark.points(1)
def test_hidden_every_format_character_goes(sandbox):
    # A soft hyphen, Arabic number signs, the Mongolian vowel separator, invisible operators,
    # interlinear annotations, a Kaithi number sign, musical beams, the language tag.
    invisible = "\u00ad\u0600\u06dd\u070f\u180e\u2061\u2064\ufff9\ufffb\U000110bd\U0001d173\U000e0001"
    text = "ok".join(invisible) + "!"
    got = sandbox.call("chatroom.protocol:clean_text", text)
    wanted = "ok" * (len(invisible) - 1) + "!"
    assert got == wanted, (
        f"every format character (Unicode category Cf) should go, not only the best known; "
        f"clean_text({text!r}) gave {got!r}")


@pytest.mark.points(1)
def test_hidden_marks_and_emoji_modifiers_stay(sandbox):
    text = "cafe\u0301 \u2764\ufe0f \U0001f44d\U0001f3fd \u00e5\u0308"
    got = sandbox.call("chatroom.protocol:clean_text", text)
    assert got == text, (
        f"combining accents, variation selectors and skin tones are visible parts of text: "
        f"clean_text({text!r}) should keep them, got {got!r}")
