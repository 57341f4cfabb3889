"""Exercise 7 (lesson 7): ChatClient.step, the client's select step (chatroom/client.py).

The judge plays the server, on its end of a real connection, and types on a
real pipe that stands for the keyboard.
"""

import socket
import threading

import pytest


class PoliteServer:
    """The judge's end, as a real server behaves when a client leaves: it reads what
    the client sent, and closes when the client has shut its side (leave() waits for that)."""

    def __init__(self, server_end):
        self.received = b""
        self._thread = threading.Thread(target=self._serve, args=(server_end,), daemon=True)
        self._thread.start()

    def _serve(self, server_end):
        while True:
            try:
                data = server_end.recv(4096)
            except OSError:
                return
            if not data:
                server_end.shutdown(socket.SHUT_WR)
                return
            self.received += data

    def wait(self):
        self._thread.join(5)
        return self.received


@pytest.fixture
def chat(sandbox):
    """(the student's ChatClient, the judge's end of its connection, the keyboard, the screen)."""
    sock, server_end = sandbox.connect_pair()
    keys_in, keyboard = sandbox.request("pipe")
    keys = sandbox.new("chatroom.client:StdinKeyboard", keys_in)
    screen = sandbox.new("io:StringIO")
    client = sandbox.new("chatroom.client:ChatClient", sock, keys, screen)
    return client, server_end, keyboard, screen


@pytest.mark.points(2)
def test_what_the_server_sends_is_shown(chat):
    client, server_end, keyboard, screen = chat
    server_end.sendall("<bob> héllo\n".encode("utf-8"))
    going_on = client.step(2.0)
    assert screen.getvalue() == "<bob> héllo\n", (
        f"the server sent '<bob> héllo\\n'; the screen shows {screen.getvalue()!r}")
    assert going_on is True, "step should return True while the chat goes on"


@pytest.mark.points(2)
def test_a_typed_line_is_sent_and_echoed(chat):
    client, server_end, keyboard, screen = chat
    keyboard.type(b"hi all\n")
    going_on = client.step(2.0)
    got = server_end.recv(100)
    assert got == b"hi all\n", f"the user typed 'hi all'; the server got {got!r}"
    assert screen.getvalue() == "<You> hi all\n", f"the screen shows {screen.getvalue()!r}"
    assert going_on is True, "step should return True while the chat goes on"


@pytest.mark.points(2)
def test_the_server_going_away_ends_the_chat(chat):
    client, server_end, keyboard, screen = chat
    server_end.close()
    assert client.step(2.0) is False, (
        "the server closed the connection (recv returned b''): step should return False")
    assert "closed the connection" in screen.getvalue(), (
        f"the screen should say the server closed the connection; it shows {screen.getvalue()!r}")


@pytest.mark.points(1)
def test_the_end_of_input_ends_the_chat(chat):
    client, server_end, keyboard, screen = chat
    server = PoliteServer(server_end)
    keyboard.end()
    assert client.step(2.0) is False, "the keyboard's input ended (Ctrl-D): step should return False"
    assert server.wait() == b"", f"nothing was typed, but the server got {server.received!r}"


@pytest.mark.points(1)
def test_quit_is_sent_and_ends_the_chat(chat):
    client, server_end, keyboard, screen = chat
    server = PoliteServer(server_end)
    keyboard.type(b"/quit\n")
    assert client.step(2.0) is False, "after sending /quit, step should return False"
    assert server.wait() == b"/quit\n", f"/quit should be sent to the server; it got {server.received!r}"


@pytest.mark.points(2)
def test_when_both_are_ready_the_server_goes_first(chat):
    client, server_end, keyboard, screen = chat
    server_end.sendall(b"<bob> first\n")
    keyboard.type(b"second\n")
    assert client.step(2.0) is True, "step should return True while the chat goes on"
    if "<You>" not in screen.getvalue():  # select saw only one of them ready: one more step
        client.step(2.0)
    assert screen.getvalue() == "<bob> first\n<You> second\n", (
        f"with both ready, the server's line should be shown before the typed one: "
        f"{screen.getvalue()!r}")


@pytest.mark.points(2)
def test_quiet_time_shows_a_line_without_its_end(chat):
    client, server_end, keyboard, screen = chat
    server_end.sendall(b"a prompt with no newline")
    for _ in range(10):  # the data arrives, then a quiet step shows it
        assert client.step(0.2) is True, "step should return True while the chat goes on"
        if screen.getvalue():
            break
    assert screen.getvalue() == "a prompt with no newline\n", (
        "when nothing is ready before the timeout, step should call show_unfinished(); the "
        f"screen shows {screen.getvalue()!r}")
