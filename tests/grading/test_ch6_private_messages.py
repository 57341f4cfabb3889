"""Challenge 6: /msg and /me, in PrivateMessagesServer.command."""

import re

import pytest

import wire
from wire import LineClient

CHALLENGE = "ch6_private_messages"
TARGET = f"exercises/{CHALLENGE}.py:PrivateMessagesServer"
TIMEOUT = 2.0  # for one line: far more than a line takes on loopback
ARRIVAL = re.compile(r"\* \S+ (joined|is now \S+)")



@pytest.fixture
def room(start_server, written):
    """room(*names, needs=...) -> a LineClient per name, each in a running PrivateMessagesServer."""
    clients, servers = [], []

    def enter(*names, needs=("command", "whisper", "find")):
        if not servers:
            written(CHALLENGE, *(f"PrivateMessagesServer.{part}" for part in needs))
            servers.append(start_server(TARGET))
        for name in names:
            client = LineClient(servers[0].address, timeout=TIMEOUT)
            clients.append(client)
            client.joined()
            client.send(f"/nick {name}")
            client.read_until(f"* you are now {name}")
        return clients[-len(names):]

    yield enter
    for client in clients:
        client.close()


def expect(client, wanted, who, after):
    wire.expect(client, wanted, who, after, skip=ARRIVAL)


def heard(client):
    return wire.heard(client, skip=ARRIVAL)


def expect_nothing(client, who, after):
    """``client`` got no line since ``after``: its own /who is answered first."""
    client.send("/who")
    got = heard(client)
    assert re.fullmatch(r"'\* \d+ here: .*'", got), (
        f"after {after}, {who} should get nothing back; got {got} (before the answer to /who)")


@pytest.mark.points(3)
def test_a_whisper_reaches_only_its_target(room):
    alice, bob, carol = room("alice", "bob", "carol")
    alice.send("/msg bob meet me at noon")
    alice.send("hello, everyone")
    after = "alice sent '/msg bob meet me at noon'"
    expect(bob, "* alice whispers: meet me at noon", "bob", after)
    expect(carol, "<alice> hello, everyone", "carol",
           after + " then 'hello, everyone' (the whisper is not for carol)")
    expect_nothing(alice, "alice", after + " (no echo of her own whisper)")


@pytest.mark.points(2)
def test_names_and_the_command_ignore_case(room):
    alice, bob = room("alice", "bob")
    alice.send("/msg BOB hi")
    expect(bob, "* alice whispers: hi", "bob", "alice sent '/msg BOB hi' (names ignore case)")
    alice.send("/MSG Bob   how are you?  ")
    expect(bob, "* alice whispers: how are you?", "bob",
           "alice sent '/MSG Bob   how are you?  ' (the text without the spaces around it)")


@pytest.mark.points(2)
def test_no_one_by_that_name(room):
    alice, bob = room("alice", "bob")
    alice.send("/msg nobody psst")
    expect(alice, "* no one here is called nobody", "alice", "she sent '/msg nobody psst'")
    alice.send("out loud")
    expect(bob, "<alice> out loud", "bob",
           "alice sent '/msg nobody psst' then 'out loud' (the whisper reaches no one)")


@pytest.mark.points(1)
def test_how_to_use_msg(room):
    alice, bob = room("alice", "bob", needs=("command", "whisper"))
    for line in ("/msg bob", "/msg", "/msg bob   "):
        alice.send(line)
        expect(alice, "* usage: /msg NAME text", "alice", f"she sent {line!r}")
    alice.send("done")
    expect(bob, "<alice> done", "bob", "alice's unfinished /msg lines, then 'done' (nothing sent)")


@pytest.mark.points(2)
def test_me_tells_everyone_else(room):
    alice, bob, carol = room("alice", "bob", "carol", needs=("command", "act"))
    alice.send("/me waves")
    for client, name in ((bob, "bob"), (carol, "carol")):
        expect(client, "* alice waves", name, "alice sent '/me waves'")
    expect_nothing(alice, "alice", "she sent '/me waves'")
    alice.send("/me")
    expect(alice, "* usage: /me text", "alice", "she sent '/me' alone")


@pytest.mark.points(1)
def test_the_other_commands_still_work(room):
    alice, bob = room("alice", "bob")
    alice.send("/who")
    expect(alice, "* 2 here: alice, bob", "alice", "she sent '/who'")
    alice.send("/dance")
    expect(alice, "* unknown command /dance; try /help", "alice", "she sent '/dance'")
    bob.send("/nick robert")
    expect(bob, "* you are now robert", "bob", "he sent '/nick robert'")
    alice.send("/msg robert hello, robert")
    expect(bob, "* alice whispers: hello, robert", "robert (was bob)",
           "alice sent '/msg robert hello, robert'")
    alice.send("/quit")
    expect(alice, "* Bye!", "alice", "she sent '/quit'")
