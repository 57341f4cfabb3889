"""Hidden checks of challenge 3 (channels): they ship only with the instructor's kit."""

import pytest

from test_ch3_channels import move, room, wait_for, who  # noqa: F401
from wire import expect


@pytest.mark.points(1)
def test_hidden_an_empty_channel_is_gone_and_names_show_lowercased(room):
    alice, bob = room("alice", "bob")
    move(bob, "#GaMeS", "/join #GaMeS")
    expect(alice, "* bob left for #games", "alice", "bob sent '/join #GaMeS' (shown lowercased)")
    move(bob, "#lobby", "/part")
    expect(alice, "* bob joined #lobby", "alice", "bob went back to #lobby")
    alice.send("/channels")
    for line in ("* Channels:", "*   #lobby: 2 here", "* End of channels."):
        expect(alice, line, "alice", "bob left #games, empty now, then alice sent '/channels' "
                                     "(an empty channel is not listed)")


@pytest.mark.points(1)
def test_hidden_who_counts_only_the_channel_and_a_newcomer_starts_in_the_lobby(room):
    alice, bob, carol = room("alice", "bob", "carol")
    move(alice, "#games")
    move(bob, "#games")
    got = who(carol)
    assert got == "* 1 here: carol", (
        f"alice and bob are in #games: carol, alone in #lobby, sent '/who' and should get "
        f"'* 1 here: carol', got {got!r}")
    dave = room.newcomer()
    wait_for(carol, f"* {dave.name} joined", "carol", f"{dave.name} connected (to #lobby)")
    dave.send("hello lobby")
    expect(carol, f"<{dave.name}> hello lobby", "carol", f"{dave.name}, new, said 'hello lobby'")
    got = who(alice)
    assert got == "* 2 here: alice, bob", (
        f"alice sent '/who' in #games: she should get '* 2 here: alice, bob', got {got!r}")
