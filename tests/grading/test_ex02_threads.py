"""Exercise 2: Roster."""

import sys
import threading

import pytest


@pytest.fixture(scope="module")
def ex(submission):
    return submission("ex02_threads")


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
def test_add_remove_snapshot_in_one_thread(ex):
    roster = ex.Roster()
    assert roster.add("alice") is True, "add('alice') to an empty roster should return True"
    assert roster.add("bob") is True, "add('bob') should return True"
    assert roster.add("alice") is False, "add('alice') a second time should return False"
    assert roster.snapshot() == ["alice", "bob"], (
        f"after adding alice and bob, snapshot() should be ['alice', 'bob'], got {roster.snapshot()!r}")
    assert roster.remove("alice") is True, "remove('alice') should return True"
    assert roster.remove("alice") is False, "remove('alice') a second time should return False"
    assert roster.snapshot() == ["bob"], f"after removing alice, got {roster.snapshot()!r}"


@pytest.mark.points(1)
def test_snapshot_is_a_copy(ex):
    roster = ex.Roster()
    roster.add("alice")
    copy = roster.snapshot()
    copy.append("mallory")
    assert roster.snapshot() == ["alice"], "changing the list snapshot() returned changed the roster"


@pytest.mark.points(2)
def test_many_threads_adding_lose_no_one(ex, busy_switching):
    roster = ex.Roster()
    run_threads(8, lambda n: [roster.add(f"user{n}-{i}") for i in range(300)])
    names = roster.snapshot()
    assert len(names) == 2400, f"8 threads added 300 names each; the roster holds {len(names)}"


@pytest.mark.points(2)
def test_the_same_name_added_by_many_threads_is_added_once(ex, busy_switching):
    for attempt in range(20):
        roster = ex.Roster()
        answers = []
        run_threads(8, lambda n: answers.append(roster.add("alice")))
        assert answers.count(True) == 1, (
            f"8 threads added 'alice' at once and {answers.count(True)} were told True: "
            "check and add in one step, under the lock")
        assert roster.snapshot() == ["alice"], f"the roster holds {roster.snapshot()!r}"


@pytest.mark.points(2)
def test_every_method_waits_for_the_lock(ex):
    roster = ex.Roster()
    roster.add("bob")
    for call in (lambda: roster.add("alice"), lambda: roster.remove("bob"), roster.snapshot):
        done = threading.Event()
        with roster.lock:  # while we hold it, the roster must not be touched
            thread = threading.Thread(target=lambda: (call(), done.set()))
            thread.start()
            finished_without_lock = done.wait(0.2)
        thread.join(timeout=5)
        assert not finished_without_lock, (
            "a method finished while another thread held roster.lock: hold self.lock in add, "
            "remove and snapshot")
        assert done.is_set(), "a method did not finish once the lock was free"
