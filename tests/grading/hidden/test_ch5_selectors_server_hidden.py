"""Hidden checks of challenge 5 (selectors): they ship only with the instructor's kit."""

import socket
import struct

import pytest

from test_ch5_selectors_server import TIMEOUT, room  # noqa: F401


@pytest.mark.points(1)
def test_hidden_a_line_in_pieces_and_a_hang_up_before_the_welcome(room):
    server, connect = room()
    alice, bob = connect(), connect()
    for _ in range(3):  # connect, and reset at once: the loop must go on
        sock = socket.create_connection(server.address, timeout=TIMEOUT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    for byte in b"one byte at a time\n":
        alice.send_raw(bytes([byte]))
    got = bob.read_until(lambda line: line.startswith("<"))[-1]
    assert got == "<127.0.0.1> one byte at a time", (
        f"three clients reset their connections as they came in, then alice sent a line one byte "
        f"per send: bob should get '<127.0.0.1> one byte at a time', got {got!r}")


@pytest.mark.points(1)
def test_hidden_quit_closes_and_the_others_are_told(room):
    server, connect = room()
    alice, bob, carol = connect(), connect(), connect()
    bob.send("/quit")
    got = bob.read_to_end()[-1:]
    assert got == ["* Bye!"], f"after /quit, bob should get '* Bye!', then the end; got {got}"
    for client, name in ((alice, "alice"), (carol, "carol")):
        got = client.read_until(lambda line: line.endswith(" left"))[-1]
        assert got == "* 127.0.0.1#2 left", (
            f"bob (127.0.0.1#2) sent '/quit': {name} should get '* 127.0.0.1#2 left', got {got!r}")
    alice.send("still here")
    got = carol.read_until(lambda line: line.startswith("<"))[-1]
    assert got == "<127.0.0.1> still here", f"after bob left, carol should get alice's line, got {got!r}"
