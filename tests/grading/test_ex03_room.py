"""Exercise 3 (lesson 3): the locked room, Room.join, leave and members (chatroom/room.py)."""

import sys
import threading

import pytest


class Person:
    """Anything with a name can be in a room."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


@pytest.fixture(scope="module")
def room_module(piece):
    return piece("room")


@pytest.fixture
def busy_switching():
    """Make threads switch very often, so that an unlocked check-and-act is split."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def run_threads(count, work):
    threads = [threading.Thread(target=work, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads), "some threads never finished"


@pytest.mark.points(2)
def test_join_leave_members_in_one_thread(room_module):
    room = room_module.Room(max_members=5)
    alice, bob = Person("alice"), Person("bob")
    assert room.join(alice) is True, "join(alice) to an empty room should return True"
    assert room.join(bob) is True, "join(bob) should return True"
    assert room.members() == [alice, bob], (
        f"after alice and bob join, members() should be [alice, bob], got {room.members()!r}")
    room.leave(alice)
    assert room.members() == [bob], f"after alice leaves, members() should be [bob], got {room.members()!r}"
    room.leave(alice)  # leaving twice is not an error
    assert room.members() == [bob], f"alice leaving twice changed the room: {room.members()!r}"


@pytest.mark.points(2)
def test_a_full_room_turns_newcomers_away(room_module):
    room = room_module.Room(max_members=2)
    people = [Person(name) for name in ("a", "b", "c")]
    answers = [room.join(person) for person in people]
    assert answers == [True, True, False], (
        f"with max_members=2, three joins should return [True, True, False], got {answers}")
    assert room.members() == people[:2], f"the third should not be in the room: {room.members()!r}"


@pytest.mark.points(1)
def test_members_is_a_copy(room_module):
    room = room_module.Room(max_members=5)
    room.join(Person("alice"))
    copy = room.members()
    copy.append(Person("mallory"))
    assert [p.name for p in room.members()] == ["alice"], (
        "changing the list that members() returned changed the room: return a copy")


@pytest.mark.points(3)
def test_many_threads_join_at_once(room_module, busy_switching):
    room = room_module.Room(max_members=50)
    people = [Person(f"p{n}") for n in range(80)]
    answers = [None] * len(people)

    def join(n):
        answers[n] = room.join(people[n])

    run_threads(len(people), join)
    inside = room.members()
    assert len(inside) == 50, (
        f"80 threads joined a room of 50 at once; {len(inside)} got in: the check that the room "
        "is full and the append must happen under one lock")
    assert answers.count(True) == 50, f"{answers.count(True)} joins returned True; 50 got in"
    assert sorted(p.name for p in inside) == sorted(p.name for p, ok in zip(people, answers) if ok), (
        "the members are not the people whose join returned True")


@pytest.mark.points(2)
def test_joining_and_leaving_while_others_look(room_module, busy_switching):
    room = room_module.Room(max_members=1000)
    stayers = [Person(f"s{n}") for n in range(20)]
    for person in stayers:
        room.join(person)
    problems = []

    def churn(n):
        for round_ in range(100):
            if n % 2:
                visitor = Person(f"v{n}-{round_}")
                room.join(visitor)
                room.leave(visitor)
            else:
                try:
                    seen = room.members()
                    for person in seen:  # loop over what we were given while others change the room
                        person.name.upper()
                except Exception as error:  # noqa: BLE001 -- any failure here is the student's bug
                    problems.append(f"{type(error).__name__}: {error}")

    run_threads(8, churn)
    assert not problems, f"looping over members() while others joined and left failed: {problems[0]}"
    assert room.members() == stayers, (
        "after every visitor has left, only the 20 who stayed should be in the room, in the order "
        "they joined")
