"""Exercise 6: clean_text and valid_nickname."""

import pytest


@pytest.fixture(scope="module")
def ex(submission):
    return submission("ex06_safe_text")


def check(ex, text, wanted):
    got = ex.clean_text(text)
    assert got == wanted, f"clean_text({text!r}) should return {wanted!r}, got {got!r}"


@pytest.mark.points(1)
def test_ordinary_text_is_kept(ex):
    check(ex, "café ☕, naïve 😀 <b>", "café ☕, naïve 😀 <b>")


@pytest.mark.points(2)
def test_csi_sequences_are_removed(ex):
    check(ex, "\x1b[31mred\x1b[0m", "red")
    check(ex, "\x1b[2Jwiped", "wiped")
    check(ex, "\x1b[?25lhidden cursor", "hidden cursor")


@pytest.mark.points(2)
def test_osc_and_lone_escapes_are_removed(ex):
    check(ex, "\x1b]0;hacked\x07title", "title")
    check(ex, "\x1b]0;hacked\x1b\\title", "title")
    check(ex, "a\x1bcb", "ab")


@pytest.mark.points(2)
def test_control_characters_are_removed(ex):
    check(ex, "\r<teacher> the exam is cancelled", "<teacher> the exam is cancelled")
    check(ex, "bell\x07 nul\x00 del\x7f c1\x9b", "bell nul del c1")
    check(ex, "evil \u202egnp.exe", "evil gnp.exe")


@pytest.mark.points(1)
def test_a_tab_becomes_a_space(ex):
    check(ex, "a\tb", "a b")


@pytest.mark.points(2)
def test_valid_nicknames(ex):
    for name in ("alice", "Bob_2", "x", "a-b", "a" * 20):
        assert ex.valid_nickname(name, []) is True, f"{name!r} is a valid nickname; you said no"


@pytest.mark.points(2)
def test_invalid_nicknames(ex):
    for name in ("", "2pac", "_x", "al ice", "a" * 21, "élodie", "bob!", "alice\n"):
        assert ex.valid_nickname(name, []) is False, f"{name!r} is not a valid nickname; you said yes"


@pytest.mark.points(2)
def test_a_taken_name_ignoring_case(ex):
    assert ex.valid_nickname("alice", ["bob", "alice"]) is False, "'alice' is taken; you said yes"
    assert ex.valid_nickname("ALICE", ["alice"]) is False, (
        "'ALICE' is taken when 'alice' is (ignore case); you said yes")
    assert ex.valid_nickname("carol", ["alice", "bob"]) is True, "'carol' is free; you said no"
