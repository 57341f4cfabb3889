"""The client, in-process (run() with StringIO and pipes) and as a real subprocess."""

import io
import os
import signal
import socket
import sys
import threading

import pytest

from chatroom import client
from chat_client import LineClient
from conftest import script_env

pytestmark = pytest.mark.timeout(60)


def run_in_thread(sock, keyboard, screen, threaded_keyboard=None):
    """client.run() in a thread, so the test can talk to the server meanwhile."""
    errors = []

    def chat():
        try:
            client.run(sock, keyboard, screen, threaded_keyboard)
        except Exception as error:  # reported by the test, not lost in the thread
            errors.append(error)

    thread = threading.Thread(target=chat)
    thread.start()
    return thread, errors


def finished(thread, errors):
    thread.join(10)
    assert not thread.is_alive() and errors == []
    return True


def test_run_with_stringio_sends_echoes_and_quits(server, connect):
    friend = connect()
    screen = io.StringIO()
    with LineClient(server.address) as me:
        thread, errors = run_in_thread(me.sock, io.StringIO("hello ☕\n/quit\n"), screen)
        assert friend.read_until("<127.0.0.1> hello ☕")
        assert finished(thread, errors)
    lines = screen.getvalue().splitlines()
    assert "<You> hello ☕" in lines
    assert lines[-1] == "* Bye!"


KEYBOARDS = ["select-stdin", "windows-keyboard-thread"]


@pytest.mark.parametrize("threaded", [False, True], ids=KEYBOARDS)
def test_run_with_a_pipe_shows_lines_and_ends_with_input(server, connect, threaded):
    if sys.platform == "win32" and not threaded:
        pytest.skip("select cannot watch a pipe on Windows")
    friend = connect()
    read_end, write_end = os.pipe()
    screen = io.StringIO()
    with LineClient(server.address) as me, os.fdopen(read_end, encoding="utf-8") as keyboard, \
            os.fdopen(write_end, "w", encoding="utf-8") as typing:
        thread, errors = run_in_thread(me.sock, keyboard, screen, threaded)
        friend.read_line()  # "* 127.0.0.1 joined": the client is in the room
        friend.send("hi there")
        friend.send("/who")  # its answer means "hi there" has gone out to the client
        friend.read_until(lambda line: "here:" in line)
        typing.write("first\nsecond\n")
        typing.flush()
        assert friend.read_until("<127.0.0.1> second")[-2:] == [
            "<127.0.0.1> first", "<127.0.0.1> second"]
        typing.close()  # end of input: the client leaves
        assert finished(thread, errors)
    lines = screen.getvalue().splitlines()
    assert "<127.0.0.1> hi there" in lines
    assert "<You> first" in lines and "<You> second" in lines


def test_run_shows_a_line_the_server_never_ends():
    # The last words of a peer (here: the test) that closes without a newline are shown.
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    with listener, socket.create_connection(listener.getsockname(), timeout=10) as sock:
        peer, _ = listener.accept()
        with peer:
            read_end, write_end = os.pipe()
            screen = io.StringIO()
            with os.fdopen(read_end) as keyboard, os.fdopen(write_end, "w") as typing:
                thread, errors = run_in_thread(sock, keyboard, screen, True)
                peer.sendall(b"no newline \x1b[31mred")
                peer.shutdown(socket.SHUT_WR)  # then the server leaves
                assert finished(thread, errors)
    assert screen.getvalue().splitlines() == [
        "no newline red", "* The server closed the connection."]


@pytest.mark.parametrize("keyboard", ["select", "thread"], ids=KEYBOARDS)
def test_client_subprocess_chats_and_quits(server, connect, scripts, keyboard):
    friend = connect()
    me = scripts("-m", "chatroom.client", "127.0.0.1", str(server.address[1]),
                 env=script_env(CHATROOM_KEYBOARD=keyboard))
    me.wait_for("* Welcome")
    friend.read_line()  # joined
    me.type("hello from a pipe")
    assert friend.read_until("<127.0.0.1> hello from a pipe")
    friend.send("hello back")
    me.wait_for("<127.0.0.1> hello back")
    me.type("/quit")
    code, rest, stderr = me.finish()
    assert code == 0 and stderr == ""
    assert "<You> hello from a pipe" in me.seen
    assert rest[-1] == "* Bye!"


def test_client_subprocess_exits_0_at_end_of_input(server, connect, scripts):
    friend = connect()
    me = scripts("-m", "chatroom.client", "127.0.0.1", str(server.address[1]))
    me.wait_for("* Welcome")
    me.type("last words")
    me.process.stdin.close()
    assert friend.read_until("<127.0.0.1> last words")
    code, _, stderr = me.finish()
    assert code == 0 and stderr == ""


def test_client_subprocess_exits_0_when_the_server_goes(server, scripts):
    me = scripts("-m", "chatroom.client", "127.0.0.1", str(server.address[1]))
    me.wait_for("* Welcome")
    server.stop()
    code, rest, stderr = me.finish()
    assert code == 0 and stderr == ""
    assert rest[-2:] == ["* The server is shutting down. Goodbye!",
                         "* The server closed the connection."]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent on Windows")
def test_client_ctrl_c_says_bye_and_exits_0(server, scripts):
    me = scripts("-m", "chatroom.client", "127.0.0.1", str(server.address[1]))
    me.wait_for("* Welcome")
    me.process.send_signal(signal.SIGINT)
    code, rest, stderr = me.finish()
    assert code == 0 and "Traceback" not in stderr
    assert rest[-1] == "* Bye."


def test_client_on_a_terminal_that_cannot_show_unicode(server, connect, scripts):
    # A Windows pipe, or an old terminal, may be cp1252 or ASCII: no traceback for "☕".
    friend = connect()
    me = scripts("-m", "chatroom.client", "127.0.0.1", str(server.address[1]),
                 env=script_env(PYTHONIOENCODING="ascii"))
    me.wait_for("* Welcome")
    friend.read_line()  # joined
    friend.send("café ☕")
    me.wait_for("<127.0.0.1> caf? ?")
    me.type("/quit")
    code, _, stderr = me.finish()
    assert code == 0 and stderr == ""
