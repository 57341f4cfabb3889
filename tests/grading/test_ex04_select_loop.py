"""Exercise 4: route, the routing step of the client's select loop."""

import io

import pytest


@pytest.fixture(scope="module")
def ex(submission):
    return submission("ex04_select_loop")


@pytest.fixture
def chat(make_pair):
    """(the client's socket, the server's end, a keyboard, a screen)."""
    client, server_end = make_pair()
    return client, server_end, io.StringIO(), io.StringIO()


def typed(keyboard, text):
    """Put ``text`` on the keyboard, as if the user had typed it."""
    keyboard.write(text)
    keyboard.seek(0)


@pytest.mark.points(2)
def test_what_the_server_sends_is_shown(ex, chat):
    client, server_end, keyboard, screen = chat
    server_end.sendall("<bob> héllo\n".encode("utf-8"))
    going_on = ex.route([client], client, keyboard, screen)
    assert screen.getvalue() == "<bob> héllo\n", (
        f"the server sent '<bob> héllo\\n'; the screen shows {screen.getvalue()!r}")
    assert going_on is True, "route should return True while the chat goes on"


@pytest.mark.points(2)
def test_a_typed_line_is_sent_and_echoed(ex, chat):
    client, server_end, keyboard, screen = chat
    typed(keyboard, "hi all\n")
    going_on = ex.route([keyboard], client, keyboard, screen)
    got = server_end.recv(100)
    assert got == b"hi all\n", f"the user typed 'hi all'; the server got {got!r}"
    assert screen.getvalue() == "<You> hi all\n", f"the screen shows {screen.getvalue()!r}"
    assert going_on is True, "route should return True while the chat goes on"


@pytest.mark.points(1)
def test_a_last_line_without_newline_is_sent_with_one(ex, chat):
    client, server_end, keyboard, screen = chat
    typed(keyboard, "bye")
    ex.route([keyboard], client, keyboard, screen)
    got = server_end.recv(100)
    assert got == b"bye\n", f"a line typed without a newline should be sent as b'bye\\n', got {got!r}"


@pytest.mark.points(2)
def test_the_server_going_away_ends_the_chat(ex, chat):
    client, server_end, keyboard, screen = chat
    server_end.close()
    assert ex.route([client], client, keyboard, screen) is False, (
        "the server closed the connection (recv returned b''): route should return False")


@pytest.mark.points(1)
def test_the_end_of_input_ends_the_chat(ex, chat):
    client, server_end, keyboard, screen = chat  # an empty keyboard: readline() returns ""
    assert ex.route([keyboard], client, keyboard, screen) is False, (
        "readline() returned '' (Ctrl-D): route should return False")


@pytest.mark.points(1)
def test_quit_is_sent_and_ends_the_chat(ex, chat):
    client, server_end, keyboard, screen = chat
    typed(keyboard, "/quit\n")
    going_on = ex.route([keyboard], client, keyboard, screen)
    assert server_end.recv(100) == b"/quit\n", "/quit should be sent to the server"
    assert going_on is False, "after sending /quit, route should return False"


@pytest.mark.points(1)
def test_both_ready_and_nothing_ready(ex, chat):
    client, server_end, keyboard, screen = chat
    assert ex.route([], client, keyboard, screen) is True, "nothing ready: return True"
    assert screen.getvalue() == "", "nothing was ready, yet something was shown"
    server_end.sendall(b"<bob> first\n")
    typed(keyboard, "second\n")
    ex.route([client, keyboard], client, keyboard, screen)
    assert screen.getvalue() == "<bob> first\n<You> second\n", (
        f"with both ready, show the server's line first; the screen shows {screen.getvalue()!r}")
