"""Challenge 5: SelectorChatServer, the chat room in one thread.

The same checks of behaviour as for ChatServer, on the wire, and a count of
the threads in the process where the server runs.
"""

import contextlib
import socket
import time

import pytest

from wire import (BUDGET, MAX_LINE, LineClient, chat_lines, expect, heard, left,
                  lines_before_who, readable, within)

CHALLENGE = "ch5_selectors_server"
PARTS = ("SelectorChatServer.turn", "SelectorChatServer.take_newcomer", "SelectorChatServer.take_lines")
TIMEOUT = 2.0  # for one line: far more than a line takes on loopback
WELCOME = "* Welcome to the chat room, {}! Type /help for commands."
# Everyone connects from 127.0.0.1: the first is named 127.0.0.1, the next 127.0.0.1#2...
GOODBYE = "* The server is shutting down. Goodbye!"



@pytest.fixture
def room(start_server, written):
    """room(**options) -> (a running SelectorChatServer, connect(joined=True))."""
    clients = []

    def start(**options):
        written(CHALLENGE, *PARTS)
        server = start_server(f"exercises/{CHALLENGE}.py:SelectorChatServer", **options)

        def connect(joined=True):
            client = LineClient(server.address, timeout=TIMEOUT)
            clients.append(client)
            if joined:
                client.joined()
            return client

        return server, connect

    yield start
    for client in clients:
        client.close()


def first_difference(got, wanted):
    for number, (line, expected) in enumerate(zip(got + [None] * len(wanted), wanted)):
        if line != expected:
            return f"line {number} should be {expected!r}, got {line!r}"
    return f"then came {got[len(wanted):][:2]}"


def threads_in(sandbox):
    """How many threads run in the process of the server."""
    return sandbox.call("threading:active_count")


@pytest.mark.points(2)
def test_the_welcome_comes_first_then_joined_left_and_room_full(room):
    server, connect = room(max_clients=10)
    alice = connect(joined=False)
    expect(alice, WELCOME.format("127.0.0.1"), "alice", "she connected (her first line)")
    bob = connect(joined=False)
    expect(bob, WELCOME.format("127.0.0.1#2"), "bob", "he connected (his first line)")
    expect(alice, "* 127.0.0.1#2 joined", "alice", "bob connected")
    bob.close()
    expect(alice, "* 127.0.0.1#2 left", "alice", "bob closed his connection")
    crowd = [connect(joined=False) for _ in range(9)]
    firsts = [heard(client) for client in crowd]
    assert firsts == [repr(WELCOME.format(f"127.0.0.1#{n}")) for n in range(2, 11)], (
        f"9 people connected at once: the first line of each should be the welcome, got {firsts}")
    turned_away = connect(joined=False).read_to_end()
    wanted = ["* Sorry, the room is full (10 people). Try again later."]
    assert turned_away == wanted, (
        f"an eleventh person in a room for 10 should get {wanted}, then the connection closes; "
        f"got {turned_away}")


@pytest.mark.points(3)
def test_lines_go_to_everyone_else_whole_and_in_order(room):
    server, connect = room()
    alice, bob, carol = connect(), connect(), connect()
    said = [f"line {n:03} " + "x" * (1 + n % 50) for n in range(300)]
    alice.send_raw("".join(line + "\n" for line in said[:250]).encode())  # many recvs' worth
    for line in said[250:]:
        alice.send(line)
    wanted = [f"<127.0.0.1> {line}" for line in said]
    for client, name in ((bob, "bob"), (carol, "carol")):
        got = chat_lines(client.read_until(wanted[-1], limit=400))
        assert got == wanted, (
            f"alice sent 300 lines: {name} should get each once, whole, in order; "
            f"{first_difference(got, wanted)}")
    echoed = chat_lines(lines_before_who(alice))
    assert echoed == [], f"alice should not get her own lines back, got {echoed[:3]}"


@pytest.mark.points(2)
def test_commands_and_bad_lines(room):
    server, connect = room()
    alice, bob = connect(), connect()
    alice.read_until(f"* {bob.name} joined")
    alice.send("/nick ann")
    expect(alice, "* you are now ann", "alice", "she sent '/nick ann'")
    expect(bob, "* 127.0.0.1 is now ann", "bob", "alice sent '/nick ann'")
    alice.send("/who")
    expect(alice, f"* 2 here: {bob.name}, ann", "ann", "she sent '/who'")
    alice.send("/help")
    expect(alice, "* Commands:", "ann", "she sent '/help'")
    alice.read_until("* Any other line goes to everyone else in the room.")
    alice.send_raw(b"caf\xe9\n")
    expect(alice, "* line is not valid UTF-8 text; not sent", "ann", "she sent b'caf\\xe9\\n'")
    alice.send("x" * 3000)
    expect(alice, "* line longer than 2048 bytes; not sent", "ann", "she sent a line of 3000 bytes")
    alice.send("\x1b[31mred\x1b[0m alert")
    expect(bob, "<ann> red alert", "bob", "ann sent '\\x1b[31mred\\x1b[0m alert'")
    alice.send("/quit")
    expect(alice, "* Bye!", "ann", "she sent '/quit'")
    assert alice.read_to_end() == [], "after '* Bye!' the server should close ann's connection"
    expect(bob, "* ann left", "bob", "ann sent '/quit'")


@pytest.mark.points(2)
def test_a_slow_reader_catches_up_and_a_stuck_one_is_dropped(room):
    server, connect = room(max_backlog=16 << 20)
    with paused_reader(server.address) as slow:
        sender, witness = connect(), connect()
        # 6 MB: more than the kernel's buffers hold (about 3 MB on Linux), so some waits in the outbox
        lines = [b"%05d " % n + b"y" * 1000 for n in range(6000)]
        for start in range(0, len(lines), 500):
            sender.send_raw(b"".join(line + b"\n" for line in lines[start:start + 500]))
            witness.read_until(f"<{sender.name}> {lines[start + 499].decode()}")
        # The server has relayed every line: only its flushing brings the rest to the slow reader.
        prefix = f"<{sender.name}> ".encode()
        got = read_lines(slow, prefix + lines[-1], limit=len(lines) + 10)
        relayed = [line for line in got if line.startswith(b"<")]
        assert relayed == [prefix + line for line in lines], (
            "a reader that fell 6 MB behind (under max_backlog) and then read again should get "
            f"every line, in order; it got {len(relayed)} of {len(lines)}: is a member's outbox "
            "flushed when its socket is writable (EVENT_WRITE)?")
    server, connect = room(max_backlog=32 * 1024)
    with paused_reader(server.address):  # it never reads
        sender, reader = connect(), connect()
        sender.send("/nick sender")
        reader.read_until(f"* {sender.name} is now sender")
        for round_ in range(400):  # 50 kB a round, up to 20 MB
            sender.send_raw(b"".join(b"%03d %02d " % (round_, n) + b"z" * 1000 + b"\n"
                                     for n in range(50)))
            got = reader.read_until(lambda line: line.startswith(f"<sender> {round_:03} 49 "))
            if "* 127.0.0.1 left" in got:
                return
    raise AssertionError("a client that reads nothing was sent 20 MB of lines, and never dropped "
                         "(max_backlog was 32 KiB): the others should get '* 127.0.0.1 left'")


@contextlib.contextmanager
def paused_reader(address):
    """A client with a small receive buffer, which reads nothing until the test says."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)
    try:
        sock.connect(address)
        yield sock
    finally:
        sock.close()


def read_lines(sock, last, limit):
    """The lines from ``sock`` up to ``last``, as bytes, all within TIMEOUT of the call;
    a line of more than MAX_LINE bytes, or more than BUDGET in all, fails the test."""
    lines, pending, received = [], b"", 0
    deadline = within(TIMEOUT)
    while len(lines) < limit and readable(sock, left(deadline)):
        try:
            data = sock.recv(1 << 16)
        except OSError:
            break
        if not data:
            break
        received += len(data)
        assert received <= BUDGET, f"the server sent more than {BUDGET:,} bytes to one client"
        *complete, pending = (pending + data).split(b"\n")
        assert len(pending) <= MAX_LINE and all(len(line) <= MAX_LINE for line in complete), (
            f"the server sent a line of more than {MAX_LINE:,} bytes")
        lines += complete
        if last in complete:
            break
    return lines


@pytest.mark.points(1)
def test_stop_says_goodbye(room):
    server, connect = room()
    alice, bob = connect(), connect()
    started = time.monotonic()
    server.remote.stop()
    took = time.monotonic() - started
    assert took <= 1.5, f"stop() should end the server within a second; it took {took:.1f} s"
    for client, name in ((alice, "alice"), (bob, "bob")):
        last = client.read_to_end()[-1:]
        assert last == [GOODBYE], (
            f"when the server stops, {name} should get {GOODBYE!r}, then the connection closes; "
            f"got {last}")


@pytest.mark.points(2)
def test_one_thread_for_everyone(room, sandbox):
    before = threads_in(sandbox)
    server, connect = room()
    started = threads_in(sandbox) - before
    assert started <= 1, f"start() should start one thread, the event loop; it started {started}"
    people = [connect() for _ in range(20)]
    serving = threads_in(sandbox) - before
    assert serving <= 1, f"with 20 people in the room, the server should still run one thread, not {serving}"
    people[0].send("one thread for all")
    people[19].read_until(lambda line: line == "<127.0.0.1> one thread for all", limit=100)
