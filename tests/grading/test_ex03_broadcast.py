"""Exercise 3: broadcast."""

import pytest


@pytest.fixture(scope="module")
def ex(submission):
    return submission("ex03_broadcast")


def room(make_pair, size):
    """``size`` server-side sockets, and the client end of each."""
    pairs = [make_pair() for _ in range(size)]
    return [server for server, _ in pairs], [client for _, client in pairs]


def receive(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.points(3)
def test_everyone_but_the_sender_gets_the_message(ex, make_pair):
    servers, clients = room(make_pair, 4)
    message = "<alice> héllo ☕\n".encode("utf-8")
    dropped = ex.broadcast(message, servers[0], list(servers))
    for number, client in enumerate(clients[1:], start=2):
        got = receive(client, len(message))
        assert got == message, f"client {number} of 4 should get {message!r}, got {got!r}"
    assert dropped == [], f"nobody failed, yet broadcast returned {dropped!r}"


@pytest.mark.points(1)
def test_the_sender_does_not_get_its_own_message(ex, make_pair):
    servers, clients = room(make_pair, 2)
    ex.broadcast(b"hi\n", servers[0], list(servers))
    servers[0].sendall(b"end\n")  # an echo of "hi" would arrive before this
    got = receive(clients[0], 4)
    assert got == b"end\n", f"the sender got {got!r}: do not send the message back to its sender"


@pytest.mark.points(3)
def test_a_dead_client_is_closed_removed_and_returned(ex, make_pair):
    servers, clients = room(make_pair, 4)
    dead = servers[1]
    dead.close()  # any send to it raises OSError
    everyone = list(servers)
    dropped = ex.broadcast(b"still here?\n", servers[0], everyone)
    assert dropped == [dead], f"broadcast should return [the dead client], got {dropped!r}"
    assert dead not in everyone, "the dead client should be removed from the clients list"
    assert len(everyone) == 3, f"only the dead client should be removed; {len(everyone)} of 4 are left"
    for number in (2, 3):
        got = receive(clients[number], 12)
        assert got == b"still here?\n", (
            f"a client listed after the dead one got {got!r}: one failure must not stop the rest")


@pytest.mark.points(1)
def test_two_dead_clients_in_a_row(ex, make_pair):
    servers, clients = room(make_pair, 4)
    servers[1].close()
    servers[2].close()
    everyone = list(servers)
    dropped = ex.broadcast(b"hi\n", servers[0], everyone)
    assert dropped == [servers[1], servers[2]], (
        "with two dead clients next to each other, both should be dropped, in order "
        "(loop over a copy of the list when you remove from it)")
    assert receive(clients[3], 3) == b"hi\n", "the live client after them did not get the message"
