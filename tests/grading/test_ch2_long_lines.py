"""Challenge 2: long lines, in split_line, cut and LongLinesClient.

split_line is called with plain text. The client is graded as exercise 7's
is: the judge plays the server, on its end of a real connection, and types on
a real pipe that stands for the keyboard.
"""

import threading

import pytest

from wire import left, readable, within

CHALLENGE = "ch2_long_lines"
SCRIPT = f"exercises/{CHALLENGE}.py"
LIMIT = 2048  # MAX_LINE_BYTES
KEPT = 256 << 10  # what the judge keeps of what the client sends: the tests type far less
SECONDS = 2.0

WORDS = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
         "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.")


def split(sandbox, text, limit=LIMIT):
    got = sandbox.call(f"{SCRIPT}:split_line", text, limit)
    return list(got) if isinstance(got, (list, tuple)) else got


def expect_split(sandbox, text, limit, wanted, what):
    got = split(sandbox, text, limit)
    assert got == wanted, (
        f"split_line({what}, {limit}) should be {shown(wanted)}, got {shown(got)}")


def shown(value, width=120):
    text = repr(value)
    return text if len(text) <= width else text[:width] + "...'"


def check_pieces(text, pieces, limit, what):
    """Every piece fits, none starts with '/' or a space but the first, and together they are
    ``text``; the message says what is wrong."""
    assert isinstance(pieces, list) and all(isinstance(piece, str) for piece in pieces), (
        f"{what} should come as a list of str, got {shown(pieces)}")
    position = 0
    for number, piece in enumerate(pieces):
        size = len(piece.encode("utf-8"))
        assert 0 < size <= limit, f"{what}: piece {number} has {size} bytes; at most {limit}"
        assert number == 0 or not piece.startswith(("/", " ")), (
            f"{what}: piece {number} starts with {piece[:1]!r}: {shown(piece, 40)}")
        assert text.startswith(piece, position), (
            f"{what}: piece {number} should go on from character {position} of the text; it is "
            f"{shown(piece, 40)}, and the text there is {shown(text[position:position + 30], 40)}")
        position += len(piece)
        if text.startswith(" ", position):
            position += 1  # the space where it was cut
    assert position == len(text), (
        f"{what}: the pieces hold {position} of the text's {len(text)} characters")


@pytest.mark.points(2)
def test_a_line_is_cut_at_spaces(sandbox, written):
    written(CHALLENGE, "split_line")
    expect_split(sandbox, "hello world", 20, ["hello world"], "'hello world'")
    expect_split(sandbox, "", 20, [], "''")
    expect_split(sandbox, "one two three four", 9, ["one two", "three", "four"],
                 "'one two three four'")
    expect_split(sandbox, "one two three", 7, ["one two", "three"], "'one two three'")
    text = " ".join([WORDS] * 40)  # about 9,000 bytes
    pieces = split(sandbox, text)
    check_pieces(text, pieces, LIMIT, "a paragraph of about 9,000 bytes")
    for number, piece in enumerate(pieces[:-1]):
        following = pieces[number + 1].split(" ")[0]
        assert len((piece + " " + following).encode("utf-8")) > LIMIT, (
            f"each piece should be as long as it can be: piece {number} has room for "
            f"{following!r} too")


@pytest.mark.points(2)
def test_a_word_too_long_is_cut_between_characters(sandbox, written):
    written(CHALLENGE, "split_line")
    expect_split(sandbox, "abcdefghij", 4, ["abcd", "efgh", "ij"], "'abcdefghij'")
    expect_split(sandbox, "ééééé", 5, ["éé", "éé", "é"], "'ééééé' (2 bytes each)")
    expect_split(sandbox, "a🙂🙂b", 6, ["a🙂", "🙂b"], "'a🙂🙂b' (the emoji are 4 bytes)")
    expect_split(sandbox, "hi supercalifragilistic", 8, ["hi", "supercal", "ifragili", "stic"],
                 "'hi supercalifragilistic'")
    text = "https://example.com/" + "é" * 3000  # 6,020 bytes, no space
    check_pieces(text, split(sandbox, text), LIMIT, "a link of 6,020 bytes")


@pytest.mark.points(2)
def test_no_piece_but_the_first_starts_with_a_slash(sandbox, written):
    written(CHALLENGE, "split_line")
    expect_split(sandbox, "ok go /quit", 9, ["ok", "go /quit"], "'ok go /quit'")
    expect_split(sandbox, "abc /quit now", 8, ["abc /qui", "t now"], "'abc /quit now'")
    expect_split(sandbox, "ab cdef/quit", 7, ["ab", "cdef/qu", "it"], "'ab cdef/quit'")
    expect_split(sandbox, "a b/cd efgh", 5, ["a", "b/cd", "efgh"], "'a b/cd efgh'")
    expect_split(sandbox, "abcdef/ghi", 6, ["abcde", "f/ghi"], "'abcdef/ghi'")
    text = ("x" * 2046 + " /quit ") * 3
    check_pieces(text.strip(), split(sandbox, text.strip()), LIMIT,
                 "2046 x's, ' /quit ', three times over (the server would obey a line '/quit')")


class Judge:
    """The judge's end of the client's connection: what the client sent, as lines."""

    def __init__(self, server_end):
        self.sock, self.pending, self.lines = server_end, b"", []

    def take(self, seconds):
        """Read what the client sent within ``seconds``; False once it has closed."""
        while readable(self.sock, seconds):
            data = self.sock.recv(65536)
            if not data:
                return False
            self.pending += data
            assert len(self.pending) <= KEPT, f"the client sent more than {KEPT:,} bytes"
            *complete, self.pending = self.pending.split(b"\n")
            self.lines += complete
            seconds = 0.01  # then only what is there already
        return True

    def politely(self):
        """From now on, read in a thread of the judge's, and close once the client has shut
        its side, as a server does when a client leaves (``leave`` waits for that)."""
        def serve():
            deadline = within(SECONDS)
            while left(deadline) > 0 and self.take(left(deadline)):
                pass
            self.sock.close()
        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()

    def lines_until(self, count):
        """The first ``count`` lines the client sends (fewer if they do not come in SECONDS)."""
        deadline = within(SECONDS)
        while len(self.lines) < count and left(deadline) > 0 and self.take(left(deadline)):
            pass
        return self.lines[:count]


@pytest.fixture
def chat(sandbox, written):
    """(the student's LongLinesClient, the judge's end, the keyboard, the screen)."""
    written(CHALLENGE, "split_line", "LongLinesClient.from_keyboard",
            "LongLinesClient.send_long")
    sock, server_end = sandbox.connect_pair()
    keys_in, keyboard = sandbox.request("pipe")
    keys = sandbox.new("chatroom.client:StdinKeyboard", keys_in)
    screen = sandbox.new("io:StringIO")
    client = sandbox.new(f"{SCRIPT}:LongLinesClient", sock, keys, screen)
    return client, Judge(server_end), keyboard, screen


def typed(client, judge, keyboard, data, lines, steps=20):
    """Type ``data``; let the client step until the judge has ``lines`` lines in all (the
    keyboard is read 4 KiB at a time); False if a step said the chat was over."""
    keyboard.type(data)
    for _ in range(steps):
        if client.step(0.2) is not True:
            return False
        judge.take(0.01)
        if len(judge.lines) >= lines:
            break
    return True


@pytest.mark.points(3)
def test_a_long_typed_line_reaches_the_server_in_pieces(chat):
    client, judge, keyboard, screen = chat
    text = " ".join([WORDS] * 25)  # about 5,600 bytes
    assert typed(client, judge, keyboard, text.encode("utf-8") + b"\n", 3), (
        "after typing a line of 5,600 bytes, step should return True: the chat goes on")
    got = [line.decode("utf-8", "replace") for line in judge.lines_until(3)]
    check_pieces(text, got, LIMIT, "the lines the server got for a typed line of 5,600 bytes")
    echoed = screen.getvalue().splitlines()
    assert echoed == [f"<You> {line}" for line in got], (
        f"each piece should be echoed as '<You> ...', in order: the screen shows "
        f"{shown(echoed)}")


@pytest.mark.points(2)
def test_a_long_word_of_many_bytes_arrives_whole(chat):
    client, judge, keyboard, screen = chat
    text = "ça" + "é" * 2500 + "🙂" * 100  # 5,403 bytes, no space
    assert typed(client, judge, keyboard, text.encode("utf-8") + b"\n", 3), (
        "after typing a line of 5,400 bytes, step should return True: the chat goes on")
    got = judge.lines_until(3)
    for number, line in enumerate(got):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            raise AssertionError(f"line {number} the server got is not valid UTF-8: a character "
                                 f"was cut in two ({line[-4:]!r})") from None
    check_pieces(text, [line.decode("utf-8") for line in got], LIMIT,
                 "the lines the server got for a typed word of 5,403 bytes")


@pytest.mark.points(1)
def test_short_lines_and_commands_as_before(chat):
    client, judge, keyboard, screen = chat
    assert typed(client, judge, keyboard, b"hello   there\n/who\n", 2), "the chat should go on"
    got = judge.lines_until(2)
    assert got == [b"hello there", b"/who"], (
        f"'hello   there' and '/who' should reach the server as [b'hello there', b'/who'], got "
        f"{got}")
    command = "/nick " + "x" * 3000
    typed(client, judge, keyboard, command.encode() + b"\nafter\n", 3)
    got = judge.lines_until(3)[2:]
    assert got == [b"after"], (
        f"a command of 3,006 bytes is never cut (it would be a command, then a chat line): it "
        f"is refused, and the next line, 'after', goes; the server got {shown(got)}")
    assert "not sent" in screen.getvalue(), (
        f"the screen should say the command was not sent: {shown(screen.getvalue())}")
