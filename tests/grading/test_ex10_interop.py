"""Exercise 10 (lesson 9): verdict and its checks (chatroom/interop.py), what a chat showed.

Each test hands the student's ``verdict`` a record as ``chat`` makes it (plain data: the two
screens, what was done, what the clients raised) and checks the outcome and the number of
sentences the docstrings promise. The sentences' wording is the student's.
"""

import pytest

WELCOME = "* Welcome to the chat room, {}! Type /help for commands."
SAID = ("hello from the first client", "hello from the second client", "a line after /nick")


def record(first=None, second=None, done=("welcome", "lines", "nick", "quit"), raised=(None, None),
           closed=(True, True), problem=None):
    """A chat as ``chat`` records it; by default one in which everything worked."""
    if first is None:
        first = [WELCOME.format("ann"), f"<bob> {SAID[1]}", "* you are now carol", "* Bye!"]
    if second is None:
        second = [WELCOME.format("bob"), f"<ann> {SAID[0]}", f"<carol> {SAID[2]}", "* Bye!"]
    return {"host": "127.0.0.1", "port": 5050, "nick": "carol", "seconds": 10.0,
            "problem": problem, "done": list(done), "screens": [first, second],
            "raised": list(raised), "closed": list(closed)}


@pytest.fixture
def verdict(sandbox):
    def judged(chat):
        outcome, sentences = sandbox.call("chatroom.interop:verdict", chat)
        assert isinstance(sentences, list) and all(
            isinstance(sentence, str) and sentence and "\n" not in sentence
            for sentence in sentences), (
            f"verdict should give a list of sentences, each one line of text: {sentences!r}")
        return outcome, sentences
    return judged


@pytest.mark.points(2)
def test_a_chat_in_which_everything_worked_is_ok(verdict):
    outcome, sentences = verdict(record())
    assert outcome == "ok", f"a chat in which every step worked should give 'ok', got {outcome!r}"
    assert len(sentences) == 6, (
        f"one sentence per check: two welcomes, two lines, /nick, /quit (6), got {sentences!r}")


@pytest.mark.points(1)
def test_a_server_out_of_reach_cannot_connect(verdict):
    outcome, sentences = verdict(record(problem="connection refused by 127.0.0.1 port 5050"))
    assert outcome == "cannot connect", f"a record with a problem gives 'cannot connect': {outcome!r}"
    assert len(sentences) == 1 and "connection refused" in sentences[0], (
        f"its one sentence is the problem: {sentences!r}")


@pytest.mark.points(2)
def test_no_welcome_is_the_first_failure(verdict):
    outcome, sentences = verdict(record(first=[], second=[], done=()))
    assert outcome == "no welcome within 3 s", (
        f"no welcome on the first screen: 'no welcome within 3 s' (joined), got {outcome!r}")
    assert len(sentences) == 1, f"the second client is not checked then: {sentences!r}"
    outcome, _ = verdict(record(raised=("ValueError: bad line", None)))
    assert outcome == "the client raised ValueError", (
        f"what a client's code raised comes first, by its name: got {outcome!r}")


@pytest.mark.points(2)
def test_lines_that_do_not_arrive_are_named(verdict):
    second = [WELCOME.format("bob"), "* Bye!"]
    outcome, sentences = verdict(record(second=second, done=("welcome", "lines", "quit")))
    assert outcome == "lines do not reach the other client", (
        f"the second screen lacks '<ann> {SAID[0]}': got {outcome!r}")
    assert len(sentences) == 6, f"still one sentence per check (/nick: not checked): {sentences!r}"


@pytest.mark.points(2)
def test_a_name_that_does_not_change_is_nick_not_seen(verdict):
    second = [WELCOME.format("bob"), f"<ann> {SAID[0]}", f"<ann> {SAID[2]}", "* Bye!"]
    outcome, sentences = verdict(record(second=second))
    assert outcome == "/nick not seen", f"the last line came as <ann>, not <carol>: {outcome!r}"
    assert any("<ann>" in sentence for sentence in sentences), (
        f"the /nick sentence should say what the second client saw instead: {sentences!r}")
    outcome, _ = verdict(record(done=("welcome", "lines")))
    assert outcome == "the chat took too long", (
        f"/nick not tried though the first line arrived: the chat ran out of time: {outcome!r}")


@pytest.mark.points(2)
def test_quit_needs_the_goodbye_and_the_close(verdict):
    first = [WELCOME.format("ann"), f"<bob> {SAID[1]}", "* you are now carol"]
    outcome, _ = verdict(record(first=first))
    assert outcome == "no goodbye after /quit", f"no '* Bye!' on the first screen: {outcome!r}"
    outcome, _ = verdict(record(closed=(True, False)))
    assert outcome == "connection not closed after /quit", (
        f"the server kept the second connection open: {outcome!r}")
