"""Challenge 3: channels, in ChannelServer.

Everyone takes a name first: the names the server gives (from the address)
are not the test's business. The grading server runs without flood control
(conftest.py's start_server), so the tests may send lines at a program's pace.
"""

import re
import threading

import pytest

from wire import LineClient, chat_lines, expect, left, within

CHALLENGE = "ch3_channels"
TARGET = f"exercises/{CHALLENGE}.py:ChannelServer"
PARTS = ("command", "move", "broadcast_lines", "send_to", "who", "list_channels")
TIMEOUT = 2.0  # for one line: far more than a line takes on loopback
BAD_NAME = "* a channel name is a '#', then a letter, then up to 19 letters, digits, '_' or '-'"
WHO = re.compile(r"\* \d+ here: .*")


@pytest.fixture
def room(start_server, written):
    """room(*names) -> a LineClient per name, each in #lobby of a running ChannelServer and
    named, with every notice of their arrivals read: what comes next is the test's."""
    clients, servers = [], []

    def enter(*names):
        if not servers:
            written(CHALLENGE, *(f"ChannelServer.{part}" for part in PARTS))
            servers.append(start_server(TARGET))
        entered = []
        for name in names:
            client = newcomer(servers[0])
            client.send(f"/nick {name}")
            wait_for(client, f"* you are now {name}", name, f"{name} sent '/nick {name}'")
            for other, other_name in zip(entered, names):
                wait_for(other, f"* {client.name} is now {name}", other_name,
                         f"a newcomer to #lobby, {client.name}, took the name {name}")
            client.name = name
            entered.append(client)
        return entered

    def newcomer(server):
        client = LineClient(server.address, timeout=TIMEOUT)
        clients.append(client)
        client.joined()
        return client

    enter.newcomer = lambda: newcomer(servers[0])
    yield enter
    for client in clients:
        client.close()


def wait_for(client, wanted, who, after, limit=100):
    """Read ``client``'s lines up to ``wanted``, within TIMEOUT; return those before it."""
    seen, deadline = [], within(TIMEOUT)
    try:
        for _ in range(limit):
            line = client.read_line(timeout=left(deadline))
            if line == wanted:
                return seen
            seen.append(line)
        ending = f"{limit} other lines"
    except OSError:
        ending = f"nothing more within {TIMEOUT:g} s"
    except EOFError:
        ending = "the connection closed"
    raise AssertionError(f"after {after}, {who} should get {wanted!r}; got {seen[-3:]}, then {ending}")


def move(client, channel, command=None):
    """``client`` joins ``channel`` (with /join, or ``command``) and is told so, after
    the notices that were on their way to it."""
    command = command or f"/join {channel}"
    client.send(command)
    wait_for(client, f"* you are now in {channel.lower()}", client.name,
             f"{client.name} sent {command!r}")


def who(client):
    """The answer to /who, past any notice that comes before it."""
    client.send("/who")
    try:
        return client.read_until(WHO.fullmatch, limit=100)[-1]
    except OSError:
        raise AssertionError(f"{client.name} sent '/who', and got no answer within {TIMEOUT:g} s") from None


@pytest.mark.points(2)
def test_a_line_reaches_only_its_channel(room):
    alice, bob, carol, dave = room("alice", "bob", "carol", "dave")
    move(dave, "#games")
    move(carol, "#games")
    wait_for(dave, "* carol joined #games", "dave", "carol joined him in #games")
    for client in (alice, bob):
        wait_for(client, "* carol left for #games", client.name, "dave then carol joined #games")
    alice.send("hello, lobby")
    expect(bob, "<alice> hello, lobby", "bob", "alice said 'hello, lobby' in #lobby")
    dave.send("hello, games")
    expect(carol, "<dave> hello, games", "carol", "dave said 'hello, games' in #games")
    bob.send("lobby again")
    expect(alice, "<bob> lobby again", "alice",
           "dave said 'hello, games' in #games, then bob 'lobby again' in #lobby (alice is in #lobby)")
    carol.send("games again")
    expect(dave, "<carol> games again", "dave",
           "alice said 'hello, lobby' in #lobby, then carol 'games again' in #games (dave is in #games)")


@pytest.mark.points(2)
def test_join_part_and_who(room):
    alice, bob, carol = room("alice", "bob", "carol")
    move(carol, "#Games", "/JOIN #Games")  # the command ignores case; the name is shown lowercased
    got = who(carol)
    assert got == "* 1 here: carol", (
        f"carol, alone in #games, sent '/who': she should get '* 1 here: carol', got {got!r}")
    got = who(alice)
    assert got == "* 2 here: alice, bob", (
        f"alice sent '/who' in #lobby, which carol left: she should get '* 2 here: alice, bob', got {got!r}")
    carol.send("/join #GAMES")
    expect(carol, "* you are already in #games", "carol", "she sent '/join #GAMES' in #games")
    move(carol, "#lobby", "/part")
    move(carol, "#chess")
    move(carol, "#lobby", "/join")
    carol.send("/part")
    expect(carol, "* you are already in #lobby", "carol", "she sent '/part' in #lobby")
    move(bob, "#lobby-2")
    got = who(carol)
    assert got == "* 2 here: alice, carol", (
        f"carol sent '/who' in #lobby, with alice (bob is in #lobby-2): she should get "
        f"'* 2 here: alice, carol', got {got!r}")


@pytest.mark.points(1)
def test_channels_lists_each_channel_and_how_many_are_in_it(room):
    alice, bob, carol, dave = room("alice", "bob", "carol", "dave")
    for client, channel in ((bob, "#games"), (carol, "#Games"), (dave, "#chess-club_2")):
        move(client, channel)
        wait_for(alice, f"* {client.name} left for {channel.lower()}", "alice",
                 f"{client.name} sent '/join {channel}'")
    alice.send("/channels")
    wanted = ["* Channels:", "*   #chess-club_2: 1 here", "*   #games: 2 here", "*   #lobby: 1 here",
              "* End of channels."]
    for line in wanted:
        expect(alice, line, "alice", f"she sent '/channels' (the whole answer is {wanted})")
    move(bob, "#lobby", "/part")
    dave.send("/channels")
    wanted[2:4] = ["*   #games: 1 here", "*   #lobby: 2 here"]
    for line in wanted:
        expect(dave, line, "dave", f"bob went back to #lobby, then dave sent '/channels' "
                                   f"(the whole answer is {wanted})")


@pytest.mark.points(2)
def test_moves_and_notices_reach_only_the_channels_concerned(room):
    alice, bob, carol, dave = room("alice", "bob", "carol", "dave")
    move(dave, "#games")
    for client in (alice, bob, carol):
        expect(client, "* dave left for #games", client.name, "dave sent '/join #games'")
    eve = room.newcomer()  # in #lobby
    for client in (alice, bob, carol):
        expect(client, f"* {eve.name} joined", client.name, f"{eve.name} connected")
    move(carol, "#games")
    expect(dave, "* carol joined #games", "dave",
           f"{eve.name} connected to #lobby, then carol joined dave in #games")
    for client in (alice, bob):
        expect(client, "* carol left for #games", client.name, "carol sent '/join #games'")
    carol.send("/nick caroline")
    expect(carol, "* you are now caroline", "carol", "she sent '/nick caroline'")
    expect(dave, "* carol is now caroline", "dave", "carol sent '/nick caroline' in #games")
    bob.send("still here")
    expect(alice, "<bob> still here", "alice",
           "carol, in #games, sent '/nick caroline', then bob said 'still here' in #lobby")
    carol.close()
    expect(dave, "* caroline left", "dave", "caroline, in #games, closed her connection")
    bob.send("bye")
    expect(alice, "<bob> bye", "alice",
           "caroline, in #games, closed her connection, then bob said 'bye' in #lobby")
    dave.send("/part")
    expect(dave, "* you are now in #lobby", "dave", "he sent '/part' in #games, empty but for him")
    for client in (alice, bob):
        expect(client, "* dave joined #lobby", client.name, "dave went back to #lobby")


@pytest.mark.points(1)
def test_a_bad_channel_name_gets_one_line(room):
    alice, bob = room("alice", "bob")
    too_long = "#a" + "b" * 20  # a letter, then 20 more
    for line in ("/join games", "/join #", "/join #1games", "/join #-games", "/join #games!",
                 "/join #two words", f"/join {too_long}", "/join ##games"):
        alice.send(line)
        expect(alice, BAD_NAME, "alice", f"she sent {line!r}")
    alice.send("still in the lobby")
    expect(bob, "<alice> still in the lobby", "bob",
           "alice sent /join with bad channel names (she stays in #lobby), then 'still in the lobby'")
    move(alice, too_long[:-1])  # a letter, then 19 more: the longest name


@pytest.mark.points(2)
def test_nothing_lost_and_in_order_in_a_busy_channel(room):
    ann, ben, cat, gus, lou, leo, lia = room("ann", "ben", "cat", "gus", "lou", "leo", "lia")
    for client in (ann, ben, cat, gus):
        move(client, "#games")
    talkers = (ann, ben, cat, lou, leo)
    lines = 100
    for start in range(0, lines, 10):  # in turns of 10 lines each, so that the relays interleave
        for talker in talkers:
            talker.send_raw("".join(f"{n:03}\n" for n in range(start, start + 10)).encode())
    channels = {"#games": (ann, ben, cat, gus), "#lobby": (lou, leo, lia)}
    for channel, members in channels.items():
        speakers = [member for member in members if member in talkers]
        for reader in members:
            wanted = {speaker.name: [f"{n:03}" for n in range(lines)] for speaker in speakers
                      if speaker is not reader}
            got = heard_from(reader, wanted, sum(map(len, wanted.values())))
            assert got == wanted, (
                f"in {channel}, {' and '.join(s.name for s in speakers)} each said 100 lines while "
                f"{'#lobby' if channel == '#games' else '#games'} talked too: {reader.name} should get "
                f"every line of the others in {channel}, once, in each one's order, and no other; "
                f"{difference(got, wanted)}")


def heard_from(reader, wanted, count):
    """{speaker: [what it said, in the order heard]} of ``reader``'s next ``count`` chat lines."""
    got, deadline = {name: [] for name in wanted}, within(TIMEOUT)
    try:
        for _ in range(count + 50):  # notices too
            if sum(map(len, got.values())) >= count:
                break
            line = reader.read_line(timeout=left(deadline))
            if chat_lines([line]):
                name, _, text = line[1:].partition("> ")
                got.setdefault(name, []).append(text)
    except (OSError, EOFError):
        pass  # what is missing is reported
    return got


def difference(got, wanted):
    for name, mine in sorted(got.items()):
        if name not in wanted and mine:
            return f"got {len(mine)} lines of {name} (not in this channel), such as {mine[0]!r}"
    for name, theirs in sorted(wanted.items()):
        mine = got.get(name, [])
        if mine != theirs:
            missing = [text for text in theirs if text not in mine]
            return (f"of {name}'s lines got {len(mine)}, missing {missing[:3]}, "
                    f"in order: {mine == sorted(mine)}")
    return "no difference"


class Talker:
    """A member that says numbered lines in its channel, two at a time, as fast as it may:
    ``allow(n)`` lets it say n more."""

    def __init__(self, client):
        self.client, self.said, self.allowed, self.problem = client, 0, 0, None
        self.changed, self.ending = threading.Condition(), False
        self.thread = threading.Thread(target=self.talk, daemon=True)
        self.thread.start()

    def allow(self, lines):
        with self.changed:
            self.allowed += lines
            self.changed.notify()

    def talk(self):
        try:
            while True:
                with self.changed:
                    allowed = self.changed.wait_for(lambda: self.ending or self.said < self.allowed,
                                                    TIMEOUT)
                    if self.ending or not allowed:  # not allowed: the test is over
                        return
                self.client.send_raw(f"{self.said:04}\n{self.said + 1:04}\n".encode())
                self.said += 2
        except OSError as problem:
            self.problem = problem

    def stop(self):
        """Stop, and say one last line; return the number of lines said."""
        with self.changed:
            self.ending = True
            self.changed.notify()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive() and self.problem is None, (
            f"{self.client.name} could not send: {self.problem}")
        self.client.send(f"{self.said:04}")
        self.said += 1
        return self.said


@pytest.mark.points(2)
def test_a_member_who_moves_gets_each_channels_lines_while_in_it(room, sandbox):
    sandbox.call("sys:setswitchinterval", 1e-5)  # the server's threads take turns far more often
    # Others who only listen make each relay longer; carol comes last in the room's list.
    bob, dave, erin, gus, *ears, carol = room("bob", "dave", "erin", "gus",
                                              *(f"ear{n}" for n in range(8)), "carol")
    for client in (erin, gus, *ears[:4]):
        move(client, "#games")
    for client in (bob, dave, carol):
        wait_for(client, "* ear3 left for #games", client.name, "erin, gus and 4 others joined #games")
    wait_for(erin, "* ear3 joined #games", "erin", "gus and 4 others joined #games")
    moves, lines_per_move = 40, 60
    talkers = {"#lobby": Talker(bob), "#games": Talker(erin)}
    seen, where = [], "#lobby"
    try:
        for _ in range(moves):
            for channel, command in (("#games", "/join #games"), ("#lobby", "/part")):
                for talker in talkers.values():
                    talker.allow(lines_per_move)  # carol's move meets their lines on the way
                carol.send(command)
                seen += wait_for(carol, f"* you are now in {channel}", "carol",
                                 f"she sent {command!r} while bob talked in #lobby and erin in #games",
                                 limit=2 * moves * lines_per_move + 10)
                seen.append(f"* you are now in {channel}")
    finally:
        said = {channel: talker.stop() for channel, talker in talkers.items()}
    seen += wait_for(carol, f"<bob> {said['#lobby'] - 1:04}", "carol",
                     f"bob's last line, {said['#lobby'] - 1:04}, said in #lobby after she came back",
                     limit=2 * moves * lines_per_move + 10)
    seen.append(f"<bob> {said['#lobby'] - 1:04}")
    story = (f"bob talked in #lobby and erin in #games while carol moved from #lobby to #games "
             f"and back {moves} times")
    speaker_of = {"#lobby": "bob", "#games": "erin"}
    last = {"bob": -1, "erin": -1}
    stay = {"bob": None, "erin": None}  # the last line of each talker in this stay in a channel
    for number, line in enumerate(seen):
        if line.startswith("* you are now in "):
            where = line.rpartition(" ")[2]
            stay = {"bob": None, "erin": None}
            continue
        name, _, text = line[1:].partition("> ")
        assert name == speaker_of[where] and text.isdigit(), (
            f"{story}: carol got {line!r} while in {where}, after {seen[number - 1]!r}")
        n = int(text)
        assert n > last[name], f"{story}: carol got {name}'s line {n} after line {last[name]}"
        assert stay[name] is None or n == stay[name] + 1, (
            f"{story}: in {where}, carol got {name}'s line {n} after line {stay[name]}: "
            f"she should get every line said in {where} while she is in it")
        stay[name] = last[name] = n
    for listener, talker, channel, notices in (
            (dave, "bob", "#lobby", ["* carol left for #games", "* carol joined #lobby"]),
            (gus, "erin", "#games", ["* carol joined #games", "* carol left for #lobby"])):
        wanted = [f"<{talker}> {n:04}" for n in range(said[channel])]
        got = listen(listener, wanted, len(notices) * moves)
        said_lines = [line for line in got if line.startswith(f"<{talker}> ")]
        assert said_lines == wanted, (
            f"{story}: {listener.name}, in {channel}, should get every line of {talker} once, in "
            f"order; got {len(said_lines)} of {len(wanted)}, in order: {said_lines == sorted(said_lines)}")
        moves_seen = [line for line in got if line.startswith("* carol ")]
        assert moves_seen == notices * moves, (
            f"{story}: {listener.name}, in {channel}, should get {notices}, {moves} times over; "
            f"got {len(moves_seen)} notices: {moves_seen[:4]}...")


def listen(listener, lines, notices):
    """``listener``'s lines up to the last of ``lines`` and its ``notices``-th notice about
    carol, or as many as came within TIMEOUT."""
    got, count, done, deadline = [], 0, False, within(TIMEOUT)
    try:
        for _ in range(len(lines) + notices + 10):
            if done and count >= notices:
                break
            got.append(listener.read_line(timeout=left(deadline)))
            done = done or got[-1] == lines[-1]
            count += got[-1].startswith("* carol ")
    except (OSError, EOFError):
        pass  # what is missing is reported
    return got
