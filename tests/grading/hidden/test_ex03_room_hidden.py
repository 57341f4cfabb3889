"""Hidden checks of exercise 3 (the room): they ship only with the instructor's kit."""

import pytest

from test_ex03_room import Room, names, people  # noqa: F401


@pytest.mark.points(1)
def test_hidden_a_default_name_is_never_one_in_use(Room, people):
    room = Room(10)
    for person in people("h", "h#3"):
        room.join(person)
    got = room.default_name("h")
    assert got.startswith("h#") and got not in ("h", "h#3"), (
        f"with h and h#3 in the room, default_name('h') should be a free h#N (h#2), got {got!r}")


@pytest.mark.points(1)
def test_hidden_others_of_someone_not_in_the_room_is_everyone(Room, people):
    room = Room(5)
    alice, bob, stranger = people("alice", "bob", "stranger")
    room.join(alice)
    room.join(bob)
    got = names(room.others(stranger))
    assert got == ["alice", "bob"], f"others(someone not in the room) should be everyone, got {got}"
    full = Room(0).is_full()
    assert full is True, f"a room of 0 members is full from the start: is_full() gave {full!r}"
