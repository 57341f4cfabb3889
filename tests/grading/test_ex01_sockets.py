"""Exercise 1: recv_until_closed."""

import threading

import pytest


@pytest.fixture(scope="module")
def ex(submission):
    return submission("ex01_sockets")


@pytest.mark.points(2)
def test_reads_everything_until_the_peer_closes(ex, make_pair):
    near, far = make_pair()
    far.sendall(b"hello, ")
    far.sendall(b"world")
    far.close()
    got = ex.recv_until_closed(near)
    assert got == b"hello, world", f"the peer sent b'hello, world' and closed; you returned {got!r}"


@pytest.mark.points(2)
def test_reads_data_that_arrives_in_many_pieces(ex, make_pair):
    near, far = make_pair()
    data = bytes(range(256)) * 1000  # 256 KB: more than one recv can hold

    def send_slowly():
        for start in range(0, len(data), 10_000):
            far.sendall(data[start:start + 10_000])
        far.close()

    sender = threading.Thread(target=send_slowly)
    sender.start()
    got = ex.recv_until_closed(near)
    sender.join(timeout=5)
    assert len(got) == len(data), f"the peer sent {len(data)} bytes; you returned {len(got)}"
    assert got == data, "you returned as many bytes as were sent, but not the same bytes"


@pytest.mark.points(1)
def test_a_peer_that_sends_nothing(ex, make_pair):
    near, far = make_pair()
    far.close()
    got = ex.recv_until_closed(near)
    assert got == b"", f"the peer closed without sending anything; you returned {got!r}"


@pytest.mark.points(2)
def test_stops_at_the_limit_without_waiting_for_the_close(ex, make_pair):
    near, far = make_pair()
    far.sendall(b"x" * 5000)  # and the peer stays connected
    got = ex.recv_until_closed(near, limit=100)
    assert len(got) == 100, (f"with limit=100 you returned {len(got)} bytes; return exactly the "
                             "first 100 as soon as you have them")
