"""Hidden checks of challenge 4 (history): they ship only with the instructor's kit."""

import pytest

from test_ch4_history import check_entry, connect, first_lines  # noqa: F401


@pytest.mark.points(1)
def test_hidden_the_last_ten_of_many_senders_in_the_order_relayed(connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    said = []
    for round_ in range(4):
        for name, client in (("alice", alice), ("bob", bob)):
            texts = [f"{name} {round_} {n}" for n in range(3)]
            client.send_raw("".join(text + "\n" for text in texts).encode())  # in one send
            for text in texts:
                carol.read_until(f"<{name}> {text}")
            said += [f"<{name}> {text}" for text in texts]
    check_entry(first_lines(connect), said[-10:],
                "after alice and bob said 24 lines, three at a time in one send each")


@pytest.mark.points(1)
def test_hidden_the_history_stays_while_newcomers_come_and_go(connect):
    alice, bob = connect("alice"), connect("bob")
    alice.send("before")
    bob.read_until("<alice> before")
    check_entry(first_lines(connect), ["<alice> before"], "after alice said 'before'")
    check_entry(first_lines(connect), ["<alice> before"],
                "after alice said 'before' and a newcomer came and went")
