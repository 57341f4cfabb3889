"""Challenge 4: the recent messages, in HistoryServer."""

import threading

import pytest

from wire import LineClient, left, within

CHALLENGE = "ch4_history"
PARTS = ("HistoryServer.broadcast_lines", "HistoryServer.admit", "HistoryServer.send_recent")
TIMEOUT = 2.0  # for one line: far more than a line takes on loopback
OPENING, CLOSING = "* Recent messages:", "* End of recent messages."
NEWCOMERS = 20
TALKERS = ("alice", "bob", "carol", "dave", "erin")



@pytest.fixture
def connect(start_server, written):
    """connect(name=None) -> a new client of a running HistoryServer, the same for the whole test."""
    clients, servers = [], []

    def connect(name=None):
        """Given a name, the client waits until it is in the room, and takes the name."""
        if not servers:
            written(CHALLENGE, *PARTS)
            servers.append(start_server(f"exercises/{CHALLENGE}.py:HistoryServer"))
        client = LineClient(servers[0].address, timeout=TIMEOUT)
        clients.append(client)
        if name:
            client.joined()
            client.send(f"/nick {name}")
            client.read_until(f"* you are now {name}")
        return client

    yield connect
    for client in clients:
        client.close()


def first_lines(connect):
    """What a newcomer gets before the answer to a /who it sends at once."""
    newcomer = connect()
    newcomer.send("/who")
    try:
        return newcomer.read_until(lambda line: line.startswith("* ") and " here: " in line)[:-1]
    except OSError:
        raise AssertionError(f"a newcomer sent /who, and got no answer within {TIMEOUT:g} s") from None


def check_entry(got, recent, before):
    wanted_lines = ["* Welcome ..."] + ([OPENING, *recent, CLOSING] if recent else [])
    # Once the newcomer is in the room, a notice of someone else's (a join, a new name)
    # may come before the answer to its /who: after the history, only such notices.
    head, tail = got[:len(wanted_lines)], got[len(wanted_lines):]
    matches = (len(head) == len(wanted_lines) and head[0].startswith("* Welcome")
               and head[1:] == wanted_lines[1:] and all(
                   line.startswith("* ") and line not in (OPENING, CLOSING) for line in tail))
    assert matches, f"{before}, a newcomer should first get {wanted_lines}, got {got}"


@pytest.mark.points(3)
def test_a_newcomer_gets_the_last_ten_lines(connect):
    alice, bob = connect("alice"), connect("bob")
    said = [f"message {n:02}" for n in range(1, 13)]
    for text in said:
        alice.send(text)
    bob.read_until("<alice> message 12")
    check_entry(first_lines(connect), [f"<alice> {text}" for text in said[2:]],
                "after alice said 'message 01' to 'message 12'")


@pytest.mark.points(2)
def test_no_history_no_frame(connect):
    check_entry(first_lines(connect), [], "in an empty room")
    check_entry(first_lines(connect), [], "when only someone's arrival has happened")


@pytest.mark.points(2)
def test_notices_are_not_history(connect):
    alice, bob = connect("alice"), connect("bob")
    alice.send("only line")
    bob.read_until("<alice> only line")
    bob.send("/nick robert")
    bob.send("/quit")
    alice.read_until("* robert left")
    check_entry(first_lines(connect), ["<alice> only line"],
                "after bob joined, alice said 'only line', bob became robert and left")


@pytest.mark.points(3)
def test_a_line_said_while_someone_joins_arrives_once(connect, sandbox):
    sandbox.call("sys:setswitchinterval", 1e-5)  # the server's threads take turns far more often
    talk = Talk(connect, TALKERS)
    newcomers = []
    for _ in range(NEWCOMERS):  # each comes in while the others talk
        talk.wait_for(len(TALKERS))
        newcomers.append(connect())
    talk.wait_for(len(TALKERS))
    last = talk.stop()
    talk.first.send("the end")  # every newcomer gets this line: from the recent ones, or live
    for index, newcomer in enumerate(newcomers):
        check_once(newcomer, last,
                   f"newcomer {index + 1} of {NEWCOMERS}, who came in while {' and '.join(TALKERS)} talked")


class Talk:
    """People who each say numbered lines, one at a time, each relayed before the next."""

    def __init__(self, connect, names):
        self.said = {name: [] for name in names}
        self.spoke, self.ending, self.problems = threading.Condition(), threading.Event(), []
        pairs = [(name, connect(name), connect(f"{name}-ear")) for name in names]
        self.first = pairs[0][1]
        self.threads = [threading.Thread(target=self.talk, args=pair, daemon=True) for pair in pairs]
        for thread in self.threads:
            thread.start()

    def talk(self, name, talker, listener):
        try:
            for n in range(10_000):
                if self.ending.is_set():
                    return
                talker.send(f"line {n:04}")
                listener.read_until(f"<{name}> line {n:04}")
                with self.spoke:
                    self.said[name].append(n)
                    self.spoke.notify_all()
        except (OSError, EOFError, AssertionError) as problem:
            with self.spoke:
                self.problems.append(f"{name}: {problem!r}")
                self.spoke.notify_all()

    def count(self):
        return sum(map(len, self.said.values()))

    def wait_for(self, lines):
        """Wait until ``lines`` more lines have gone round."""
        with self.spoke:
            target = self.count() + lines
            went = self.spoke.wait_for(lambda: self.count() >= target or self.problems, TIMEOUT)
        assert went and not self.problems, f"the lines stopped going round: {self.problems}"

    def stop(self):
        """End the talk; return the number of each one's last line."""
        self.ending.set()
        for thread in self.threads:
            thread.join(TIMEOUT)
        assert not any(thread.is_alive() for thread in self.threads) and not self.problems, (
            f"the lines stopped going round: {self.problems}")
        return {name: numbers[-1] for name, numbers in self.said.items() if numbers}


def check_once(newcomer, last, who):
    """The welcome, the recent lines, then live ones: each line once, in order, from the recent on."""
    deadline = within(TIMEOUT)  # for the welcome and the recent lines
    got = [newcomer.read_line(timeout=left(deadline)), newcomer.read_line(timeout=left(deadline))]
    assert got[0].startswith("* Welcome") and got[1] == OPENING, (
        f"{who} should get the welcome, then {OPENING!r}; got {got}")
    for _ in range(11):
        got.append(newcomer.read_line(timeout=left(deadline)))
        if got[-1] == CLOSING:
            break
    assert got[-1] == CLOSING and len(got) > 3, (
        f"{who} should get the welcome, {OPENING!r}, 1 to 10 lines, {CLOSING!r}; got {got}")
    if f"<{TALKERS[0]}> the end" not in got:  # a newcomer let in late has it in the recent lines
        got += newcomer.read_until(f"<{TALKERS[0]}> the end")
    for name, final in last.items():
        numbers = [int(line.rsplit(" ", 1)[1]) for line in got if line.startswith(f"<{name}> line ")]
        wanted = list(range(numbers[0], final + 1)) if numbers else []
        assert numbers == wanted, (
            f"{who} should get each of {name}'s lines once, in order, from the recent ones on "
            f"(lines {numbers[0]} to {final}); missing: {sorted(set(wanted) - set(numbers))}, "
            f"twice: {sorted({n for n in numbers if numbers.count(n) > 1})}, "
            f"in order: {numbers == sorted(numbers)}")
