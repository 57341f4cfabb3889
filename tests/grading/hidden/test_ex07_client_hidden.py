"""Hidden checks of exercise 7 (the client): they ship only with the instructor's kit."""

import socket
import struct

import pytest

from test_ex07_client import (Background, PoliteServer, chat, client_module,  # noqa: F401
                              client_pair)
from wire import receive


@pytest.mark.points(1)
def test_hidden_a_line_typed_in_pieces_is_sent_once_whole(chat):
    client, server_end, keyboard, screen = chat
    keyboard.type(b"hel")
    assert client.step(2.0) is True, "step should return True while the chat goes on"
    early = receive(server_end, 1, timeout=0.3)
    assert early == b"", f"'hel' is not a line yet (no Enter): nothing should be sent, got {early!r}"
    keyboard.type(b"lo\n")
    client.step(2.0)
    got = receive(server_end, 6)
    assert got == b"hello\n", (
        f"the user typed 'hel', then 'lo' and Enter: the server should get b'hello\\n' once, got "
        f"{got!r}: from_keyboard cuts lines with self.typed, a LineBuffer")
    assert screen.getvalue() == "<You> hello\n", f"the screen shows {screen.getvalue()!r}"


@pytest.mark.points(1)
def test_hidden_text_typed_without_enter_is_sent_at_the_end_of_input(chat):
    client, server_end, keyboard, screen = chat
    server = PoliteServer(server_end)
    keyboard.type(b"see you")
    keyboard.end()
    for _ in range(3):  # the bytes, then the end of input, may come in two steps
        if client.step(2.0) is False:
            break
    got = server.wait()
    assert got == b"see you\n", (
        f"the user typed 'see you' with no Enter, then the input ended: the line should be sent "
        f"as b'see you\\n', got {got!r}")


@pytest.mark.points(1)
def test_hidden_a_reset_is_the_server_leaving(chat, sandbox):
    client, server_end, keyboard, screen = chat
    server_end.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    server_end.close()  # a reset, not a goodbye
    assert client.step(2.0) is False, (
        "the server reset the connection: receive() gives b'' for a reset too, and step returns "
        "False")
    assert "closed the connection" in screen.getvalue(), (
        f"the screen should say the server closed the connection; it shows {screen.getvalue()!r}")


@pytest.mark.points(1)
def test_hidden_leave_gives_up_on_a_server_that_never_closes(sandbox):
    sock, server_end, screen = client_pair(sandbox)
    leaving = Background(sandbox, "leave", sock, screen, leave_seconds=1.5)  # no answer comes
    took = leaving.took(4.0)
    server_end.close()
    shown = screen.getvalue().splitlines()
    assert 1.2 < took < 3.0, (
        f"a server that never closes: leave should give up after LEAVE_SECONDS (1.5 s here), it "
        f"returned after {took:.1f} s")
    assert len(shown) == 2 and all(line.startswith("* ") for line in shown), (
        f"leave should say once that it waits, then that it leaves before the server said "
        f"goodbye, each in a line starting with '* '; the screen shows {shown}")


@pytest.mark.points(1)
def test_hidden_connect_tries_ipv4_first_then_the_other_addresses(sandbox):
    client_module(sandbox)
    families = {info[0] for info in socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)}
    listeners = both_loopbacks() if {socket.AF_INET, socket.AF_INET6} <= families else None
    if listeners is None:  # localhost is one address here: it is reached, and refusals raise
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(2.0)
            sandbox.call("chatroom.client:connect", "127.0.0.1", listener.getsockname()[1])
            listener.accept()[0].close()
        return
    ipv4, ipv6 = listeners
    port = ipv4.getsockname()[1]
    with ipv6:
        with ipv4:
            sandbox.call("chatroom.client:connect", "localhost", port)
            assert came(ipv4), ("'localhost' is 127.0.0.1 and ::1 here, and both listen: connect "
                                "should try the IPv4 address first")
        sandbox.call("chatroom.client:connect", "localhost", port)
        assert came(ipv6), ("'localhost' is 127.0.0.1 and ::1 here, and only ::1 listens: after "
                            "127.0.0.1 refuses, connect should try ::1")
    refused = sandbox.raised("chatroom.client:connect", "localhost", port)
    assert refused is not None and refused.kind == "ConnectionRefusedError", (
        f"when no address of 'localhost' listens, connect should raise the first error, "
        f"ConnectionRefusedError; it raised {refused.kind if refused else 'nothing'}")


def both_loopbacks(tries=20):
    """Listening sockets on 127.0.0.1 and ::1 with the same port, or None."""
    for _ in range(tries):
        ipv4 = socket.create_server(("127.0.0.1", 0))
        try:
            ipv6 = socket.create_server(("::1", ipv4.getsockname()[1]), family=socket.AF_INET6)
        except OSError:
            ipv4.close()
            continue
        return ipv4, ipv6
    return None


def came(listener):
    """True when a connection waits on ``listener``."""
    listener.settimeout(2.0)
    try:
        listener.accept()[0].close()
    except OSError:
        return False
    return True
