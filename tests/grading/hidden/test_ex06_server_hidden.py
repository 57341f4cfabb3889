"""Hidden checks of exercise 6 (the server's core): they ship only with the instructor's kit."""

import re
import socket
import struct
import threading
import time

import pytest

from test_ex06_server import (FIRST, LEAVES, LETS_IN, READS, connect, hears,  # noqa: F401
                              next_line, room_of, server, welcome)


@pytest.mark.points(1)
def test_hidden_a_lone_cr_ends_a_line(server, connect):
    chat = server(READS)
    alice, bob = room_of(chat, connect, 2)
    alice.send_raw(b"one\rtwo\r\nthree\n")
    after = "b'one\\rtwo\\r\\nthree\\n' in one send"
    piece = "handle: a lone b'\\r' ends a line too, and b'\\r\\n' makes no empty line"
    for word in ("one", "two", "three"):
        hears(bob, chat, f"<{FIRST}> {word}", "bob", after, piece)


@pytest.mark.points(1)
def test_hidden_no_line_of_the_room_comes_before_the_welcome(server, connect):
    chat = server(READS)
    (talker,) = room_of(chat, connect, 1)
    stop = threading.Event()

    def talk():  # the room is busy all the while newcomers come in
        for _ in range(2000):
            if stop.is_set():
                return
            try:
                talker.send_raw(b"busy\n" * 20)
            except OSError:
                return

    talking = threading.Thread(target=talk, daemon=True)
    talking.start()
    try:
        for number in range(20):
            with socket.create_connection(chat.address, timeout=2.0) as newcomer:
                first = newcomer.recv(200).split(b"\n")[0].decode("utf-8", "replace")
            assert first.startswith("* Welcome to the chat room, "), (
                f"newcomer number {number + 1}, who came while the room was busy, first got "
                f"{first!r}: admit sends the welcome before the member joins the room, and its "
                f"thread waits for both{chat.raised()}")
    finally:
        stop.set()
        talking.join(5)


@pytest.mark.points(1)
def test_hidden_clients_that_hang_up_at_once_do_not_stop_the_server(server, connect):
    chat = server(LEAVES)
    for _ in range(10):  # connect, then reset the connection before the server gets to it
        sock = socket.create_connection(chat.address, timeout=2.0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    late = connect(chat.address)
    got = next_line(late)
    assert got.startswith("'* Welcome to the chat room, "), (
        f"after ten clients hung up (a reset) just after they connected, the next should get "
        f"the welcome, got {got}: nothing a connection does may end accept_loop{chat.raised()}")


@pytest.mark.points(1)
def test_hidden_a_failed_accept_does_not_end_the_loop(sandbox, server, connect):
    import resource  # Unix: the instructor grades there

    chat = server(LETS_IN)
    files = resource.RLIMIT_NOFILE
    limits = tuple(sandbox.call("resource:getrlimit", files))
    lowest = sandbox.call("os:dup", 0)  # the lowest free descriptor: no new one from here on
    sandbox.call("os:close", lowest)
    sandbox.call("resource:setrlimit", files, (lowest, limits[1]))
    try:
        client = connect(chat.address)  # the kernel lets it in; accept() fails: EMFILE
        told = chat.wait_for_event(lambda event: re.search(r"(?i)accept|too many", event), 1.0)
        time.sleep(0.3)  # accept() fails again meanwhile
    finally:
        sandbox.call("resource:setrlimit", files, limits)
    got = next_line(client)
    assert got == repr(welcome(FIRST)), (
        f"accept() failed for a while (no file descriptor left); once it works again, the client "
        f"waiting should get the welcome, got {got}: accept_loop tells on_event, pauses and goes "
        f"on{chat.raised()}")
    assert any(re.search(r"(?i)accept|too many", event) for event in told), (
        f"when accept() fails, accept_loop should tell on_event in a line; it was told {told}")


@pytest.mark.points(1)
def test_hidden_the_console_shows_chat_only_with_log_chat(server, connect):
    for log_chat in (True, False):
        chat = server(READS, log_chat=log_chat)
        alice, bob = room_of(chat, connect, 2)
        alice.send("hello")
        hears(bob, chat, f"<{FIRST}> hello", "bob", "alice sent 'hello'", "handle_lines")
        line = f"<{FIRST}> hello"
        logged = line in chat.wait_for_event(line, seconds=2.0 if log_chat else 0.5)
        assert logged == log_chat, (
            f"with log_chat={log_chat}, the console should {'' if log_chat else 'not '}be told "
            f"{line!r}: handle_lines tells on_event of each chat line only when self.log_chat")
