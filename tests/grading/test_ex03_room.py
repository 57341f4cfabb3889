"""Exercise 3 (lesson 3): the locked room, Room.join, is_full, leave, members, others and
default_name (chatroom/room.py)."""

import time

import pytest

BUSY_SWITCHING = 1e-6  # threads switch very often, so that an unlocked check-and-act is split


@pytest.fixture
def people(sandbox):
    """people(*names) -> people in the sandbox (anything with a name can be in a room)."""
    return lambda *names: [sandbox.new("types:SimpleNamespace", name=name, _keep=True)
                           for name in names]


@pytest.fixture
def Room(sandbox):  # noqa: N802 -- it stands for the student's class
    return lambda max_members: sandbox.new("chatroom.room:Room", max_members)


def names(members):
    return [member.get("name") for member in members]


@pytest.mark.points(2)
def test_join_leave_members_in_one_thread(Room, people):
    room = Room(5)
    alice, bob = people("alice", "bob")
    assert room.join(alice) is True, "join(alice) to an empty room should return True"
    assert room.join(bob) is True, "join(bob) should return True"
    assert names(room.members()) == ["alice", "bob"], (
        f"after alice and bob join, members() should be [alice, bob], got {names(room.members())}")
    room.leave(alice)
    assert names(room.members()) == ["bob"], f"after alice leaves, members() is {names(room.members())}"
    room.leave(alice)  # leaving twice is not an error
    assert names(room.members()) == ["bob"], f"alice leaving twice changed the room: {names(room.members())}"


@pytest.mark.points(1)
def test_a_full_room_turns_newcomers_away(Room, people):
    room = Room(2)
    answers = [room.join(person) for person in people("a", "b", "c")]
    assert answers == [True, True, False], (
        f"with max_members=2, three joins should return [True, True, False], got {answers}")
    assert names(room.members()) == ["a", "b"], f"the third should not be in the room: {names(room.members())}"


@pytest.mark.points(1)
def test_members_is_a_copy(sandbox, Room, people):
    room = Room(5)
    alice, mallory = people("alice", "mallory")
    room.join(alice)
    copy = room.members(_keep=True)
    copy.append(mallory)
    assert names(room.members()) == ["alice"], (
        "changing the list that members() returned changed the room: return a copy")


@pytest.mark.points(2)
def test_many_threads_join_at_once(sandbox, Room, people):
    room = Room(50)
    crowd = people(*(f"p{n}" for n in range(80)))
    errors = sandbox.threads([[room.plan("join", person)] for person in crowd], switch=BUSY_SWITCHING)
    assert not any(errors), f"joining from 80 threads at once failed: {next(e for e in errors if e)}"
    inside = names(room.members())
    assert len(inside) == 50, (
        f"80 threads joined a room of 50 at once; {len(inside)} got in: the check that the room "
        "is full and the append must happen under one lock")
    assert len(set(inside)) == 50, "someone is in the room twice"


@pytest.mark.points(2)
def test_join_leave_and_members_wait_for_the_rooms_lock(sandbox, Room, people):
    """Certain where a race is only likely: while the judge holds the room's lock, each of
    them, called in another thread, must wait for it."""
    room = Room(5)
    alice, = people("alice")
    lock, pool = room.get("_lock"), sandbox.new("concurrent.futures:ThreadPoolExecutor", 1)
    for method in ("join", "members", "leave"):
        assert lock.acquire(True, 2.0), f"the room's lock was still held before {method}() was called"
        try:
            called = pool.submit(room.get(method), *([] if method == "members" else [alice]))
            time.sleep(0.2)
            waited = not called.done()
        finally:
            lock.release()
        called.result(2.0)  # what it raised first: a stub's error says "not attempted"
        assert waited, (
            f"{method}() returned while another thread held the room's lock: take self._lock "
            "around every look at and change of the list, so that no thread sees it half done")


@pytest.mark.points(2)
def test_joining_and_leaving_while_others_look(sandbox, Room, people):
    room = Room(1000)
    stayers = people(*(f"s{n}" for n in range(20)))
    for person in stayers:
        room.join(person)
    visitors = people(*(f"v{n}" for n in range(4)))
    plans = [[room.plan("join", visitor), room.plan("leave", visitor)] for visitor in visitors]
    plans += [[room.plan("members")] for _ in range(4)]
    errors = sandbox.threads(plans, rounds=100, switch=BUSY_SWITCHING)
    assert not any(errors), f"joining, leaving and looking at once failed: {next(e for e in errors if e)}"
    assert names(room.members()) == [f"s{n}" for n in range(20)], (
        "after every visitor has left, only the 20 who stayed should be in the room, in the order "
        "they joined")


@pytest.mark.points(1)
def test_is_full_says_when_no_one_else_may_join(Room, people):
    room = Room(2)
    alice, bob = people("alice", "bob")
    seen = [room.is_full()]
    room.join(alice)
    seen.append(room.is_full())
    room.join(bob)
    seen.append(room.is_full())
    room.leave(alice)
    seen.append(room.is_full())
    assert seen == [False, False, True, False], (
        f"with max_members=2, is_full() should be False, False, True, then False after one "
        f"leaves; it was {seen}")


@pytest.mark.points(1)
def test_others_is_everyone_but_the_member(Room, people):
    room = Room(5)
    alice, bob, carol, mallory = people("alice", "bob", "carol", "mallory")
    for person in (alice, bob, carol):
        room.join(person)
    got = names(room.others(bob))
    assert got == ["alice", "carol"], f"others(bob) should be [alice, carol], got {got}"
    got = names(room.others(None))
    assert got == ["alice", "bob", "carol"], f"others(None) should be everyone, got {got}"
    copy = room.others(bob, _keep=True)
    copy.append(mallory)
    assert names(room.members()) == ["alice", "bob", "carol"], (
        "changing the list that others() returned changed the room: return a copy")


@pytest.mark.points(2)
def test_default_name_tells_people_at_one_address_apart(Room, people):
    room = Room(10)
    host = "10.0.0.5"
    got = [room.default_name(host)]
    first, second = people(host, f"{host}#2")
    room.join(first)
    got.append(room.default_name(host))
    room.join(second)
    got.append(room.default_name(host))
    wanted = [host, f"{host}#2", f"{host}#3"]
    assert got == wanted, (
        f"default_name({host!r}) should be {host!r} in an empty room, then {host}#2 and {host}#3 "
        f"as people from that address come in; it was {got}")
    other = room.default_name("10.0.0.6")
    assert other == "10.0.0.6", f"no one from 10.0.0.6 is here: its default name is 10.0.0.6, got {other!r}"
    room.leave(first)
    again = room.default_name(host)
    assert again == host, (
        f"{host} left and {host}#2 stayed: the next from {host} should be {host} again, the "
        f"first name no one here has; got {again!r}")
