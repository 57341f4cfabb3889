"""Exercise 6 (lesson 6): ChatServer.broadcast_lines, a broadcast that survives dead clients."""

import socket

import pytest

from sandbox import RemoteError
from wire import LineClient


@pytest.fixture
def room_of(sandbox):
    """room_of(n, stuck=()) -> (a ChatServer in the sandbox, not started, with n members;
    the judge's ends of their connections).

    A member whose index is in ``stuck`` can hold only 10 bytes, and its connection is
    already full: a reader that is not keeping up.
    """
    def build(count, stuck=()):
        server = sandbox.new("chatroom.server:ChatServer", "127.0.0.1", 0)
        room = server.get("room")
        members, far_ends = [], []
        for n in range(count):
            near, far = sandbox.connect_pair()
            member = sandbox.new("chatroom.room:Member", near, ("127.0.0.1", 40000 + n),
                                 max_backlog=10 if n in stuck else 1 << 20)
            member.set("name", f"m{n}")
            if n in stuck:
                fill(sandbox, near, far)
            room.join(member)
            members.append(member)
            far_ends.append(far)
        return server, members, far_ends

    return build


def fill(sandbox, sock, far, rounds=20):
    """Fill the kernel's buffers of a non-blocking socket in the sandbox whose peer does not read.

    Small fixed buffers, so that the kernel does not grow them; and filled again after a
    pause, until a pause frees no room at all.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    far.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for _ in range(rounds):
        sent = 0
        for _ in range(10_000):
            try:
                sent += sock.send(b"x" * 65536)
            except RemoteError as error:
                if error.is_a("BlockingIOError"):
                    break
                raise
        if sent == 0:
            return
        sandbox.call("time:sleep", 0.05)
    raise AssertionError("the socket's buffers never filled")


def shut_down_by_the_server(far, limit=10_000):
    """True when the server shut the connection down: the rest is read, then b""."""
    for _ in range(limit):
        try:
            if not far.recv(65536):
                return True
        except OSError:  # a timeout: the connection is still open
            return False
    return False


def read_all(far, size):
    data = b""
    while len(data) < size:
        chunk = far.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def nothing_arrives(far):
    far.settimeout(0.2)
    try:
        return far.recv(100) == b""
    except OSError:  # the timeout: nothing came
        return True


@pytest.mark.points(2)
def test_everyone_but_the_sender_gets_the_lines(room_of):
    server, members, far_ends = room_of(3)
    server.broadcast_lines(["<m0> hi", "<m0> there"], members[0])
    for n in (1, 2):
        got = read_all(far_ends[n], 18)
        assert got == b"<m0> hi\n<m0> there\n", (
            f"member m{n} should get b'<m0> hi\\n<m0> there\\n', got {got!r}")
    assert nothing_arrives(far_ends[0]), "the sender got its own lines back"


@pytest.mark.points(2)
def test_one_send_per_member(sandbox, room_of):
    server, members, far_ends = room_of(3)
    outboxes = [member.get("outbox") for member in members]
    for outbox in outboxes:
        sandbox.request("spy", obj=outbox._number, name="send")
    server.broadcast_lines(["a", "b", "c"], members[0])
    calls = [sandbox.request("calls", obj=outbox._number, name="send") for outbox in outboxes]
    assert calls == [0, 1, 1], (
        f"three lines to two others should be one outbox.send each (all lines joined into one "
        f"bytes), and none to the sender; the sends to m0, m1, m2 were {calls}")


@pytest.mark.points(3)
def test_a_member_that_is_not_keeping_up_is_hung_up_and_the_rest_still_get_it(room_of):
    server, members, far_ends = room_of(4, stuck=(1,))
    server.broadcast_lines(["<m0> a line longer than ten bytes"], members[0])
    for n in (2, 3):
        got = read_all(far_ends[n], 34)
        assert got == b"<m0> a line longer than ten bytes\n", (
            f"m1 could not keep up, but m{n} should still get the line; got {got!r}")
    assert members[1].get("outbox").get("broken") is True, (
        "m1 could not take the line: its outbox should be broken")
    assert shut_down_by_the_server(far_ends[1]), (
        "m1's outbox refused the line: broadcast_lines should hang it up (member.hang_up())")


@pytest.mark.points(1)
def test_nothing_to_send_sends_nothing(room_of):
    server, members, far_ends = room_of(2)
    server.broadcast_lines([], members[0])
    assert nothing_arrives(far_ends[1]), "broadcast_lines([]) sent something"


@pytest.mark.points(2)
def test_a_line_goes_round_a_running_server(start_server):
    server = start_server()
    with LineClient(server.address) as alice, LineClient(server.address) as bob, \
            LineClient(server.address) as carol:
        for person in (alice, bob, carol):
            person.joined()
        alice.send("hello, room")
        for person, name in ((bob, "bob"), (carol, "carol")):
            got = person.read_until(lambda line: not line.startswith("* "))[-1]
            assert got == "<127.0.0.1> hello, room", (
                f"{name} should get '<127.0.0.1> hello, room' from alice, got {got!r}")
