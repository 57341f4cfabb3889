"""The server over real loopback sockets: relaying, the article's defects, the protocol,
commands, and shutdown. Each test named after a defect is its regression test."""

import queue
import random
import signal
import socket
import struct
import sys
import threading

import pytest

from chatroom.server import GOODBYE, ChatServer
from chat_client import LineClient, chat_lines
from conftest import script_env, server_port

pytestmark = pytest.mark.timeout(60)
needs_sigint = pytest.mark.skipif(sys.platform == "win32",
                                  reason="SIGINT cannot be sent to a process on Windows")


@pytest.fixture
def thread_errors(monkeypatch):
    """Exceptions that escaped any thread during the test."""
    errors = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    return errors


def send_all(clients, count):
    """Every client sends ``count`` numbered lines, all at once from its own thread."""
    def send(index, client):
        for number in range(count):
            client.send(f"c{index} line {number}")
    threads = [threading.Thread(target=send, args=pair) for pair in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()


def received_by(client, senders, count):
    """The chat lines ``client`` gets until it has ``count`` from each of ``senders``."""
    got = []
    while len(got) < count * senders:
        got += chat_lines([client.read_line()])
    return got


def check_each_sender_in_order(got, senders, count):
    for index, sender in senders:
        prefix = f"<{sender.name}> c{index} "
        assert [line for line in got if line.startswith(prefix)] == \
            [f"{prefix}line {number}" for number in range(count)]


# --- relaying ---------------------------------------------------------------

def test_every_client_gets_every_other_clients_lines_once_in_order(connect):
    clients = [connect() for _ in range(8)]
    send_all(clients, 200)
    for index, client in enumerate(clients):
        got = received_by(client, 7, 200)
        assert len(got) == 7 * 200
        others = [(other, sender) for other, sender in enumerate(clients) if other != index]
        check_each_sender_in_order(got, others, 200)


def test_the_welcome_is_every_clients_first_line(server):
    """Newcomers arriving together: nobody hears of another's arrival before its own welcome."""
    clients = [LineClient(server.address) for _ in range(30)]
    try:
        first_lines = [client.read_line() for client in clients]
    finally:
        for client in clients:
            client.close()
    assert [line for line in first_lines if not line.startswith("* Welcome")] == []


def test_join_and_leave_notices(connect, events):
    alice = connect()
    bob = connect()
    assert alice.read_line() == "* 127.0.0.1#2 joined"  # told apart from alice, at 127.0.0.1
    bob.close()
    assert alice.read_line() == "* 127.0.0.1#2 left"
    events.wait_for("127.0.0.1#2 disconnected")


def test_server_reports_events(connect, events):
    alice, bob = connect(), connect()
    events.wait_for("127.0.0.1 connected")
    alice.send("hello")
    assert events.wait_for("hello") == "<127.0.0.1> hello"
    assert bob.read_until(lambda line: not line.startswith("*"))[-1] == "<127.0.0.1> hello"


# --- the article's defects ----------------------------------------------------

def test_reencode_bug_three_or_more_clients_all_receive(connect):
    clients = [connect() for _ in range(4)]
    clients[0].send("to everyone")
    for client in clients[1:]:
        got = client.read_until("<127.0.0.1> to everyone")
        assert chat_lines(got) == ["<127.0.0.1> to everyone"]
    clients[3].send("and back")
    for client in clients[:3]:
        assert client.read_until(f"<{clients[3].name}> and back")


def test_cpu_spin_handler_thread_ends_after_peer_closes(connect, events):
    before = set(threading.enumerate())
    client = connect()
    handler = [t for t in threading.enumerate() if t not in before]
    assert [t.name for t in handler] == ["chatroom-127.0.0.1"]
    client.close()
    events.wait_for("disconnected")
    handler[0].join(5)
    assert not handler[0].is_alive()  # a spinning thread would never end


def test_bare_except_errors_reach_the_log_not_silence(server, connect, events):
    # The article swallowed every error; here a broken line is named to its sender and logged.
    client = connect()
    client.send_raw(b"\xc3\x28\n")
    assert client.read_line() == "* line is not valid UTF-8 text; not sent"
    assert "not valid UTF-8" in events.wait_for("UTF-8")


def test_no_framing_coalesced_sends_become_separate_lines(connect):
    sender, receiver = connect(), connect()
    sender.read_line()  # "* 127.0.0.1 joined"
    sender.send_raw(b"first\nsecond\nthird\n")
    assert chat_lines(receiver.read_until("<127.0.0.1> third")) == [
        "<127.0.0.1> first", "<127.0.0.1> second", "<127.0.0.1> third"]


def test_lines_relayed_together_keep_their_order_around_commands(connect):
    """One recv's chat lines leave in one send; a command among them is not reordered."""
    sender, receiver = connect(), connect()
    sender.read_line()  # "* 127.0.0.1 joined"
    sender.send_raw(b"one\ntwo\n/nick ann\nthree\n\xff\nfour\n/quit\nnever\n")
    assert receiver.read_until("* ann left") == [
        "<127.0.0.1> one", "<127.0.0.1> two", "* 127.0.0.1 is now ann",
        "<ann> three", "<ann> four", "* ann left"]


def test_no_framing_byte_at_a_time_becomes_one_line(connect):
    sender, receiver = connect(), connect()
    sender.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for byte in "slow ☕ line\n".encode("utf-8"):
        sender.send_raw(bytes([byte]))
    got = receiver.read_until("<127.0.0.1> slow ☕ line")
    assert chat_lines(got) == ["<127.0.0.1> slow ☕ line"]


def test_unlocked_client_list_joins_and_leaves_during_broadcasts(server, connect, thread_errors):
    steady = [connect() for _ in range(4)]
    churn_done = threading.Event()

    def churn():
        for _ in range(60):
            with LineClient(server.address) as passer_by:
                passer_by.joined()
        churn_done.set()

    churner = threading.Thread(target=churn)
    churner.start()
    send_all(steady, 100)
    churner.join(30)
    assert churn_done.is_set()
    for index, client in enumerate(steady):
        got = received_by(client, 3, 100)
        others = [(other, sender) for other, sender in enumerate(steady) if other != index]
        check_each_sender_in_order(got, others, 100)
    assert thread_errors == []


def test_slow_consumer_is_dropped_and_the_others_get_every_line(events):
    with ChatServer(max_backlog=32 * 1024, on_event=events.put) as server:
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.settimeout(10)
        stuck.connect(server.address)  # and never reads
        events.wait_for("connected")
        with LineClient(server.address) as sender, LineClient(server.address) as reader:
            sender.joined(), reader.joined()
            got = queue.Queue()
            last = f"<{sender.name}> last"
            relay = threading.Thread(target=lambda: got.put(reader.read_until(last)))
            relay.start()
            dropped, sent = None, 0
            while dropped is None and sent < 20_000:  # at most 20 MB
                for _ in range(50):
                    sender.send(f"{sent:05} " + "x" * 1000)
                    sent += 1
                while dropped is None and not events.empty():
                    event = events.get_nowait()
                    dropped = event if "dropped" in event else None
            sender.send("last")
            lines = chat_lines(got.get(timeout=30))
            relay.join(10)
        stuck.close()
    assert dropped == "127.0.0.1 dropped: it stopped reading (over 32768 bytes waiting)"
    assert lines == [f"<{sender.name}> {number:05} " + "x" * 1000 for number in range(sent)] + \
        [last]


def test_invalid_utf8_and_escape_injection_are_not_relayed(connect):
    sender, receiver = connect(), connect()
    sender.read_line()  # "* 127.0.0.1 joined"
    sender.send_raw(b"\xff\xfebad\n")
    assert sender.read_line() == "* line is not valid UTF-8 text; not sent"
    sender.send_raw(b"\x1b[2J\x1b]0;owned\x07hi\x07 \xe2\x80\xaethere\n")
    sender.send("still here")
    lines = receiver.read_until("<127.0.0.1> still here")
    assert lines == ["<127.0.0.1> hi there", "<127.0.0.1> still here"]


@needs_sigint
def test_ctrl_c_stops_the_server_with_goodbye_and_exit_0(scripts):
    server = scripts("-m", "chatroom.server", "127.0.0.1", "0")
    port = server_port(server)
    with LineClient(("127.0.0.1", port)) as alice, LineClient(("127.0.0.1", port)) as bob:
        alice.joined(), bob.joined()
        server.process.send_signal(signal.SIGINT)
        assert alice.read_to_end()[-1] == GOODBYE
        assert bob.read_to_end()[-1] == GOODBYE
    code, _, stderr = server.finish()
    assert code == 0
    assert "Traceback" not in stderr + "\n".join(server.seen)
    assert "Server stopped." in server.seen[-1]


# --- the protocol, abuse ------------------------------------------------------

def test_long_line_refused_with_notice_and_connection_survives(connect):
    sender, receiver = connect(), connect()
    sender.read_line()
    sender.send("z" * 2049)
    assert sender.read_line() == "* line longer than 2048 bytes; not sent"
    sender.send("z" * 2048)
    assert chat_lines(receiver.read_until(lambda line: line.startswith("<"))) == \
        ["<127.0.0.1> " + "z" * 2048]


def test_megabytes_without_newline_get_one_notice(connect):
    sender, receiver = connect(), connect()
    sender.read_line()
    sender.send_raw(b"m" * (3 * 1024 * 1024))
    sender.send_raw(b"\nafter\n")
    assert sender.read_line() == "* line longer than 2048 bytes; not sent"
    assert chat_lines(receiver.read_until("<127.0.0.1> after")) == ["<127.0.0.1> after"]
    sender.send("/who")
    assert sender.read_line() == "* 2 here: 127.0.0.1, 127.0.0.1#2"  # no second notice


def test_binary_garbage_relays_only_clean_text(connect):
    sender, receiver = connect(), connect()
    sender.read_line()
    garbage = bytes(random.Random(7).getrandbits(8) for _ in range(64 * 1024))
    sender.send_raw(garbage + b"\nhello\n")
    lines = receiver.read_until("<127.0.0.1> hello")
    for line in lines:
        assert not any(ord(char) < 32 or 0x7f <= ord(char) <= 0x9f for char in line), line


def test_abrupt_resets_are_survived(server, connect, events):
    watcher = connect()
    for _ in range(20):
        with LineClient(server.address) as rude:
            rude.joined()
            rude.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    for _ in range(20):
        events.wait_for("disconnected")
    partner = connect()
    partner.send("still works")
    assert watcher.read_until(f"<{partner.name}> still works")


def test_hundreds_of_connections_at_once_while_others_chat(events):
    with ChatServer(max_clients=400, on_event=events.put) as server:
        with LineClient(server.address) as alice, LineClient(server.address) as bob:
            alice.joined(), bob.joined()
            crowd = [socket.create_connection(server.address, timeout=10) for _ in range(300)]
            for number in range(100):
                alice.send(f"line {number}")
            got = chat_lines(bob.read_until("<127.0.0.1> line 99"))
            assert got == [f"<127.0.0.1> line {number}" for number in range(100)]
            for sock in crowd:
                sock.close()


def test_max_clients_turns_away_politely(events):
    with ChatServer(max_clients=2, on_event=events.put) as server:
        with LineClient(server.address) as one, LineClient(server.address) as two:
            one.joined(), two.joined()
            with LineClient(server.address) as three:
                assert three.read_to_end() == [
                    "* Sorry, the room is full (2 people). Try again later."]
            assert events.wait_for("turned away") == \
                "127.0.0.1#3 turned away: the room is full (2 people)"


# --- commands -----------------------------------------------------------------

def test_nick_renames_and_tells_the_room(connect):
    alice, bob = connect(), connect()
    alice.read_line()
    alice.send("/nick alice")
    assert alice.read_line() == "* you are now alice"
    assert bob.read_line() == "* 127.0.0.1 is now alice"
    alice.send("hi")
    assert bob.read_line() == "<alice> hi"


@pytest.mark.parametrize("name, notice", [
    ("ALICE", "* the nickname ALICE is taken: it looks like alice"),
    ("9lives", "* a nickname is a letter, then up to 19 letters, digits, '_' or '-'"),
    ("has space", "* a nickname is a letter, then up to 19 letters, digits, '_' or '-'"),
    ("x" * 21, "* a nickname is a letter, then up to 19 letters, digits, '_' or '-'"),
    ("", "* usage: /nick NAME"),
])
def test_nick_refused(connect, name, notice):
    alice, bob = connect(), connect()
    alice.read_line()
    alice.send("/nick alice")
    alice.read_line()
    bob.read_line()
    bob.send(f"/nick {name}")
    assert bob.read_line() == notice


def test_who_help_unknown_and_quit(connect, events):
    alice, bob = connect(), connect()
    alice.read_line()
    alice.send("/nick alice")
    alice.read_line()
    bob.read_until("* 127.0.0.1 is now alice")  # sent to bob after alice's own notice
    bob.send("/who")
    assert bob.read_line() == "* 2 here: 127.0.0.1#2, alice"
    bob.send("/HELP")
    assert bob.read_line() == "* Commands:"
    assert bob.read_until(lambda line: "Any other line" in line)
    bob.send("/dance")
    assert bob.read_line() == "* unknown command /dance; try /help"
    bob.send("/quit")
    assert bob.read_to_end() == ["* Bye!"]
    assert alice.read_line() == "* 127.0.0.1#2 left"


# --- library use and shutdown ---------------------------------------------------

def test_library_use_port_0_events_and_clean_stop(no_leftovers):
    events = queue.Queue()
    server = ChatServer(port=0, on_event=events.put).start()
    host, port = server.address
    assert host == "127.0.0.1" and port > 0
    with LineClient((host, port)) as client:
        client.joined()
        assert events.get(timeout=10) == "127.0.0.1 connected"
        server.stop()
        assert client.read_to_end() == [GOODBYE]


def test_stop_with_clients_leaves_no_thread_or_socket(no_leftovers):
    with ChatServer() as server:
        clients = [LineClient(server.address) for _ in range(5)]
        for client in clients:
            client.joined()
    for client in clients:
        assert client.read_to_end()[-1] == GOODBYE
        client.close()


@needs_sigint
def test_server_console_that_cannot_show_unicode(scripts):
    # A Windows pipe, or an old terminal, may be cp1252 or ASCII: the log must not break.
    server = scripts("-m", "chatroom.server", "127.0.0.1", "0",
                     env=script_env(PYTHONIOENCODING="ascii"))
    with LineClient(("127.0.0.1", server_port(server))) as client:
        client.joined()
        client.send("café ☕")
        client.send("/who")
        client.read_until(lambda line: "here:" in line)
        server.wait_for("<127.0.0.1> caf? ?")
    server.process.send_signal(signal.SIGINT)
    code, _, stderr = server.finish()
    assert code == 0 and "Logging error" not in stderr and "Traceback" not in stderr


def test_ipv6_loopback(events):
    server = ChatServer("::1", on_event=events.put)
    try:
        server.start()
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    try:
        with LineClient(server.address) as alice, LineClient(server.address) as bob:
            alice.joined(), bob.joined()
            alice.send("over IPv6")
            assert chat_lines(bob.read_until("<::1> over IPv6")) == ["<::1> over IPv6"]
    finally:
        server.stop()
