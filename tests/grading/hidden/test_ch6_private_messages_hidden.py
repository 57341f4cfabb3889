"""Hidden checks of challenge 6 (private messages): they ship only with the instructor's kit."""

import pytest

from test_ch6_private_messages import expect, expect_nothing, room  # noqa: F401


@pytest.mark.points(1)
def test_hidden_a_whisper_follows_a_new_name_and_not_someone_gone(room):
    alice, bob, carol = room("alice", "bob", "carol")
    bob.send("/nick robert")
    expect(bob, "* you are now robert", "bob", "he sent '/nick robert'")
    alice.send("/msg bob are you there?")
    expect(alice, "* no one here is called bob", "alice",
           "bob became robert, then she sent '/msg bob are you there?'")
    carol.send("/quit")
    expect(carol, "* Bye!", "carol", "she sent '/quit'")
    for client in (alice, bob):
        client.read_until("* carol left")
    alice.send("/msg carol hello?")
    expect(alice, "* no one here is called carol", "alice", "carol left, then she sent '/msg carol hello?'")
    alice.send("/msg ROBERT   found you  ")
    expect(bob, "* alice whispers: found you", "robert", "alice sent '/msg ROBERT   found you  '")


@pytest.mark.points(1)
def test_hidden_me_trims_and_whispers_stay_private(room):
    alice, bob, carol = room("alice", "bob", "carol")
    alice.send("/Me    waves at bob  ")
    for client, name in ((bob, "bob"), (carol, "carol")):
        expect(client, "* alice waves at bob", name, "alice sent '/Me    waves at bob  '")
    bob.send("/msg alice psst")
    expect(alice, "* bob whispers: psst", "alice", "bob sent '/msg alice psst'")
    expect_nothing(carol, "carol", "bob whispered to alice")
