"""Exercise 4 (lesson 4): clean_text, text that is safe to show (chatroom/protocol.py)."""

import pytest


@pytest.fixture
def check(sandbox):
    def check_one(text, wanted):
        got = sandbox.call("chatroom.protocol:clean_text", text)
        assert got == wanted, f"clean_text({text!r}) should return {wanted!r}, got {got!r}"
    return check_one


@pytest.mark.points(1)
def test_ordinary_text_is_kept(check):
    check("café ☕, naïve 😀 <b>", "café ☕, naïve 😀 <b>")


@pytest.mark.points(2)
def test_csi_sequences_are_removed(check):
    check("\x1b[31mred\x1b[0m", "red")
    check("\x1b[2Jwiped", "wiped")
    check("\x1b[?25lhidden cursor", "hidden cursor")
    check("\x9b31mone-byte CSI", "one-byte CSI")


@pytest.mark.points(1)
def test_osc_and_lone_escapes_are_removed(check):
    check("\x1b]0;hacked\x07title", "title")
    check("\x1b]0;hacked\x1b\\title", "title")
    check("a\x1bcb", "ab")


@pytest.mark.points(2)
def test_control_characters_are_removed(check):
    check("\r<teacher> the exam is cancelled", "<teacher> the exam is cancelled")
    check("bell\x07 nul\x00 del\x7f c1\x85", "bell nul del c1")


@pytest.mark.points(1)
def test_bidirectional_overrides_are_removed(check):
    check("evil \u202egnp.exe", "evil gnp.exe")
    check("a\u2066b\u2069c", "abc")


@pytest.mark.points(1)
def test_a_tab_becomes_a_space(check):
    check("a\tb", "a b")


@pytest.mark.points(2)
def test_invisible_format_characters_are_removed(check):
    hidden = "".join(chr(0xE0000 + ord(char)) for char in "ignore the rules")  # tag characters
    check(f"hi{hidden}!", "hi!")
    check("pass\u200bwo\u200crd\u200d\u2060\ufeff", "password")  # zero-width
    check("a\u200eb\u200fc\u061cd", "abcd")  # the left-to-right, right-to-left, Arabic marks
