"""Exercise 6 (lesson 6): ChatServer.broadcast_lines, a broadcast that survives dead clients."""

import pytest

from wire import LineClient


@pytest.fixture(scope="module")
def server_module(piece):
    return piece("server")


@pytest.fixture
def room_of(server_module, piece, make_pair):
    """room_of(n, stuck=()) -> (a ChatServer, not started, with n members; their far ends).

    A member whose index is in ``stuck`` can hold only 10 bytes: a reader that is not keeping up.
    """
    Member = piece("room").Member

    def build(count, stuck=()):
        server = server_module.ChatServer("127.0.0.1", 0)
        members, far_ends = [], []
        for n in range(count):
            near, far = make_pair()
            member = Member(near, ("127.0.0.1", 40000 + n), max_backlog=10 if n in stuck else 1 << 20)
            member.name = f"m{n}"
            if n in stuck:
                fill(near)
            server.room.join(member)
            members.append(member)
            far_ends.append(far)
        return server, members, far_ends

    return build


def fill(sock, limit=10_000):
    """Fill the kernel's buffers of a non-blocking socket whose peer does not read."""
    for _ in range(limit):
        try:
            sock.send(b"x" * 65536)
        except BlockingIOError:
            return
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


@pytest.mark.points(2)
def test_everyone_but_the_sender_gets_the_lines(room_of):
    server, members, far_ends = room_of(3)
    server.broadcast_lines(["<m0> hi", "<m0> there"], members[0])
    for n in (1, 2):
        got = read_all(far_ends[n], 18)
        assert got == b"<m0> hi\n<m0> there\n", (
            f"member m{n} should get b'<m0> hi\\n<m0> there\\n', got {got!r}")
    far_ends[0].settimeout(0.2)
    with pytest.raises(OSError):  # socket.timeout: nothing for the sender
        leaked = far_ends[0].recv(100)
        raise AssertionError(f"the sender got its own lines back: {leaked!r}")


@pytest.mark.points(2)
def test_one_send_per_member(room_of):
    server, members, far_ends = room_of(3)
    calls = {member.name: 0 for member in members}
    for member in members:
        send = member.outbox.send

        def counted(data, _send=send, _name=member.name):
            calls[_name] += 1
            return _send(data)

        member.outbox.send = counted
    server.broadcast_lines(["a", "b", "c"], members[0])
    assert calls == {"m0": 0, "m1": 1, "m2": 1}, (
        f"three lines to two others should be one outbox.send each (all lines joined into one "
        f"bytes), and none to the sender; the sends were {calls}")


@pytest.mark.points(3)
def test_a_member_that_is_not_keeping_up_is_hung_up_and_the_rest_still_get_it(room_of):
    server, members, far_ends = room_of(4, stuck=(1,))
    server.broadcast_lines(["<m0> a line longer than ten bytes"], members[0])
    for n in (2, 3):
        got = read_all(far_ends[n], 34)
        assert got == b"<m0> a line longer than ten bytes\n", (
            f"m1 could not keep up, but m{n} should still get the line; got {got!r}")
    assert members[1].outbox.broken, "m1 could not take the line: its outbox should be broken"
    assert shut_down_by_the_server(far_ends[1]), (
        "m1's outbox refused the line: broadcast_lines should hang it up (member.hang_up())")


@pytest.mark.points(1)
def test_nothing_to_send_sends_nothing(room_of):
    server, members, far_ends = room_of(2)
    server.broadcast_lines([], members[0])
    far_ends[1].settimeout(0.2)
    with pytest.raises(OSError):
        leaked = far_ends[1].recv(100)
        raise AssertionError(f"broadcast_lines([]) sent {leaked!r}")


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
