"""Hidden checks of challenge 2 (long lines): they ship only with the instructor's kit."""

import pytest

from test_ch2_long_lines import LIMIT, WORDS, chat, check_pieces, shown, split, typed  # noqa: F401

MAX_TYPED_BYTES = 64 * 1024


@pytest.mark.points(1)
def test_hidden_a_line_over_max_typed_bytes_is_refused(chat):
    client, judge, keyboard, screen = chat
    for _ in range(2):  # 80,000 bytes in all: more than a pipe holds at once
        assert typed(client, judge, keyboard, b"y" * 40_000, 10**6, steps=12), "the chat should go on"
    assert typed(client, judge, keyboard, b"\nafter\n", 1), "the chat should go on"
    got = judge.lines_until(1)
    assert got == [b"after"], (
        f"a line of 80,000 bytes (over MAX_TYPED_BYTES) is refused whole, and the next line, "
        f"'after', goes: the server got {shown(got)}")
    refusals = [line for line in screen.getvalue().splitlines() if "not sent" in line]
    assert len(refusals) == 1, (
        f"the screen should say once that the long line was not sent: {shown(screen.getvalue())}")


@pytest.mark.points(1)
def test_hidden_the_line_is_cleaned_before_it_is_cut(chat):
    client, judge, keyboard, screen = chat
    typed_text = "\x1b[31mred\x1b[0m  " + "  ".join([WORDS] * 12)  # escape codes, double spaces
    text = "red " + " ".join([WORDS] * 12)
    assert typed(client, judge, keyboard, typed_text.encode() + b"\n", 2), "the chat should go on"
    got = [line.decode("utf-8", "replace") for line in judge.lines_until(2)]
    check_pieces(text, got, LIMIT, "a typed line of 2,700 bytes with escape codes and double "
                                   "spaces, cleaned as send_typed cleans it")


@pytest.mark.points(1)
def test_hidden_no_line_sent_begins_with_a_slash(chat):
    client, judge, keyboard, screen = chat
    text = ("w" * 2044 + " /quit ") * 3 + "end"
    assert typed(client, judge, keyboard, text.encode() + b"\n", 4), (
        "a long chat line that holds ' /quit ' is no /quit: the chat should go on")
    judge.lines_until(len(text))  # as many as come within 2 s: the last ends with 'end'
    got = judge.lines
    commands = [line for line in got if line.startswith(b"/")]
    assert not commands, f"no piece of a chat line may reach the server as a command: {shown(commands)}"
    check_pieces(text, [line.decode() for line in got], LIMIT,
                 "the lines the server got for 2044 w's, ' /quit ', three times, then 'end'")


@pytest.mark.points(1)
def test_hidden_the_end_of_input_sends_the_last_long_line(chat):
    client, judge, keyboard, screen = chat
    text = " ".join([WORDS] * 12)
    judge.politely()
    keyboard.type(text.encode())
    keyboard.end()
    for _ in range(10):
        if client.step(0.2) is False:
            break
    else:
        raise AssertionError("after the end of input (Ctrl-D), step should return False")
    judge.thread.join(1.0)
    got = [line.decode("utf-8", "replace") for line in judge.lines[:2]]
    check_pieces(text, got, LIMIT, "a line of 2,700 bytes typed without Enter, then Ctrl-D")


@pytest.mark.points(1)
def test_hidden_split_line_at_the_edges(sandbox):
    for text, limit, wanted in (("abcd", 4, ["abcd"]), ("abcde", 4, ["abcd", "e"]),
                                ("ab cd", 4, ["ab", "cd"]), ("a" * 8, 4, ["aaaa", "aaaa"]),
                                ("🙂🙂🙂", 4, ["🙂", "🙂", "🙂"]), ("ab /c", 4, ["ab /", "c"])):
        got = split(sandbox, text, limit)
        assert got == wanted, f"split_line({text!r}, {limit}) should be {wanted}, got {got}"
