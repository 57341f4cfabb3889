"""Exercise 6 (lesson 6): the server's core, ChatServer (chatroom/server.py), from outside.

The judge starts the student's ChatServer in the sandbox and is its clients, on real
sockets on 127.0.0.1. It looks inside only at the room's members and, to make one
connection's buffers small, the listening socket. Each test checks one behaviour and names
the pieces it runs on: while one of them is still its stub, the test is "not attempted"
(a stub in a server's thread would only show as silence). A failure names the piece
most likely at fault, and what a thread of the server raised, if one did.
"""

import queue
import re
import socket
import threading
import time

import pytest

from sandbox import RemoteError
from wire import LineClient, heard, left, readable, receive, shortened, within

EARLIER = (2, 3, 4, 5)  # the exercises of lessons 2 to 5, which the server runs on
LETS_IN = ("ChatServer.start", "ChatServer.accept_loop", "ChatServer.admit", "ChatServer.serve",
           "ChatServer.handle", "ChatServer.broadcast_lines")  # the last tells who joined
READS = LETS_IN + ("ChatServer.handle_lines",)
LEAVES = READS + ("ChatServer.farewell",)
STOPS = LEAVES + ("ChatServer.say_goodbye", "ChatServer.stop")
FIRST, SECOND, THIRD = "127.0.0.1", "127.0.0.1#2", "127.0.0.1#3"  # the names the room gives
GOODBYE = "* The server is shutting down. Goodbye!"
NEWS = re.compile(r"\* \S+ joined")  # the notices a test may pass over
SMALL = 4096  # socket buffers, so that a client that stops reading fills them fast
SLACK = 1.0  # seconds a busy machine may add to a deadline
RAISED = re.compile(r"(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit): .*|[A-Z]\w*Error")
STUB = re.compile(r"NotImplementedError: (exercise \d+ \(lesson \d+\): [\w.]+)")


def welcome(name):
    return f"* Welcome to the chat room, {name}! Type /help for commands."


def next_line(client, skip=None):
    """What ``client`` hears next, past lines that match ``skip`` (wire.heard), as a phrase
    for a message: a line's repr, at most 80 characters of it, or what came instead."""
    got = heard(client, skip=skip)
    return got if len(got) <= 80 else got[:76] + "...'"


class Chat:
    """The student's server, started, and what its threads raised since."""

    def __init__(self, started, sandbox):
        self.started, self.sandbox = started, sandbox
        self.address, self.remote = started.address, started.remote
        self._printed_from = len(sandbox.printed)

    def events(self):
        return self.started.events()

    def wait_for_event(self, wanted, seconds=2.0):
        """The events, once one of them is ``wanted`` (a str, or a test of one), or
        ``seconds`` have passed."""
        test = wanted if callable(wanted) else (lambda event: event == wanted)
        deadline = time.monotonic() + seconds
        while True:
            events = self.events()
            if any(test(event) for event in events) or time.monotonic() > deadline:
                return events
            time.sleep(0.02)

    def raised(self):
        """' (a thread of the server raised NameError: ...)' or '': for a message. A stub that
        a thread met is raised here, as if the test had called it: not attempted, or needs."""
        printed = bytes(self.sandbox.printed[self._printed_from:]).decode("utf-8", "replace")
        stub = STUB.search(printed)
        if stub:
            raise RemoteError({"type": "NotImplementedError", "message": stub.group(1),
                               "mro": ["NotImplementedError", "RuntimeError", "Exception"]})
        errors = [line for line in printed.splitlines() if RAISED.fullmatch(line)]
        return f" (a thread of the server raised {errors[-1][:160]})" if errors else ""


@pytest.fixture
def server(start_server, sandbox):
    """server(pieces, **options): the student's ChatServer, started, once ``pieces`` are written."""
    return lambda pieces, **options: Chat(start_server(needs=EARLIER + pieces, **options), sandbox)


@pytest.fixture
def connect():
    """connect(address) -> a LineClient; connect(address, small=True) -> a plain socket whose
    receive buffer is small. Each is closed at the end of the test."""
    made = []

    def open_one(address, small=False):
        if not small:
            made.append(LineClient(address))
            return made[-1]
        made.append(socket.socket())
        made[-1].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)
        made[-1].connect(address)
        return made[-1]

    yield open_one
    for client in made:
        client.close()


def room_of(chat, connect, count):
    """``count`` clients, each let in (its welcome, and in the room) before the next comes.

    The room's member list says when: not a command, so that these checks do not depend
    on commands working. A notice "* ... joined" may still be on its way to the others."""
    clients, room = [], chat.remote.get("room")
    already = len(room.members())
    for number in range(already + 1, already + count + 1):
        clients.append(connect(chat.address))
        got = next_line(clients[-1])
        assert got.startswith("'* Welcome to the chat room, "), (
            f"a client that connects should first get the welcome, got {got}: accept_loop lets "
            f"it in, and admit() sends the welcome{chat.raised()}")
        deadline = time.monotonic() + 2.0
        while len(room.members()) < number and time.monotonic() < deadline:
            time.sleep(0.02)
        inside = len(room.members())
        assert inside == number, (
            f"{number} clients have had their welcome, so the room should hold {number}; it "
            f"holds {inside}: admit() joins the member to the room")
        clients[-1].last_heard = None
    return clients


def hears(client, chat, wanted, who, after, piece, skip=NEWS):
    """``client`` gets ``wanted`` next, past ``skip``; or the assertion names ``piece``."""
    last = getattr(client, "last_heard", None)
    if last is not None:  # the same line twice is for the test of broadcast_lines to judge
        skip = re.compile(f"{skip.pattern}|{re.escape(last)}")
    got = next_line(client, skip=skip)
    assert got == repr(wanted), (
        f"after {after}, {who} should get {wanted!r}, got {got}: look at {piece}{chat.raised()}")
    client.last_heard = wanted


def stuck_client(chat, connect):
    """A client whose connection holds little at either end, and that stops reading once
    welcome: the server's end is made small through its listening socket (a new
    connection takes its buffer sizes from there), then made ordinary again."""
    listener = chat.remote.get("listener")
    assert listener is not None, "start should keep the listening socket in self._listener"
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL)
    stuck = connect(chat.address, small=True)
    wanted = (welcome(FIRST) + "\n").encode()
    got = receive(stuck, len(wanted))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    assert got == wanted, f"a client that connects should first get {wanted!r}, got {got!r}"
    room, deadline = chat.remote.get("room"), time.monotonic() + 2.0
    while not room.members() and time.monotonic() < deadline:  # the welcome comes first
        time.sleep(0.02)
    return stuck


def stopped(chat, timeout):
    """The seconds ``stop(timeout)`` took, called in a thread of the sandbox (it may take longer
    than one request to the sandbox may); an error it raised is raised here, as its own."""
    started, seconds = time.monotonic(), timeout + 2 * SLACK
    pool = chat.sandbox.new("concurrent.futures:ThreadPoolExecutor", 1)
    future = pool.submit(chat.remote.get("stop"), timeout)
    while not future.done():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"stop(timeout={timeout:g}) had not returned after {seconds:g} s: "
                                 "it waits for the threads until its deadline, not longer")
        time.sleep(0.02)
    took = time.monotonic() - started
    future.result()
    return took


def difference(got, wanted):
    """Where the lines ``got`` first differ from ``wanted``, as a phrase for a message."""
    for number, (line, expected) in enumerate(zip(got, wanted)):
        if line != expected:
            return f"line {number + 1} was {shortened([line], 40)[0]!r}, not {shortened([expected], 40)[0]!r}"
    return f"{len(got)} lines came, not {len(wanted)}"


def closed_by_the_server(sock, seconds=2.0):
    """True when the server has shut the connection: what it held is read, then its end."""
    receive(sock, 1 << 22, timeout=seconds, exact=False)  # what the small buffers held
    for _ in range(100):
        try:
            if not sock.recv(1 << 16):
                return True
        except socket.timeout:
            return False
        except OSError:
            return True  # reset: closed too
    return False


# -- coming in ------------------------------------------------------------------------------

@pytest.mark.points(2)
def test_a_newcomer_gets_the_welcome_then_joins_the_room(server, connect):
    chat = server(LETS_IN)
    first = connect(chat.address)
    got = next_line(first)
    assert got == repr(welcome(FIRST)), (
        f"a client that connects should first get {welcome(FIRST)!r}, got {got}: accept_loop "
        f"lets it in with newcomer() and admit(), which sends the welcome{chat.raised()}")
    second = connect(chat.address)
    got = next_line(second)
    assert got == repr(welcome(SECOND)), (
        f"a second client from the same address should first get {welcome(SECOND)!r}, got "
        f"{got}: admit() sends the welcome, then the member joins the room{chat.raised()}")
    got = next_line(first, skip=re.compile(re.escape(f"* {FIRST} joined")))  # broadcast's test
    assert got == repr(f"* {SECOND} joined"), (
        f"when the second client came in, the first should get '* {SECOND} joined', got {got}: "
        f"serve() tells the others (announce) once the member is admitted{chat.raised()}")
    names = [member.get("name") for member in chat.remote.get("room").members()]
    assert names == [FIRST, SECOND], (
        f"both clients should be in the room, in the order they came; it holds {names}: admit() "
        "joins them")
    chat.wait_for_event(f"{FIRST} connected")  # each thread says so in its own time
    events = chat.wait_for_event(f"{SECOND} connected")
    for name in (FIRST, SECOND):
        assert events.count(f"{name} connected") == 1, (
            f"the console should be told '{name} connected' once (serve, with on_event); it "
            f"was told {shortened(events)}")


# -- chat -------------------------------------------------------------------------------------

@pytest.mark.points(2)
def test_a_line_sent_in_pieces_arrives_whole(server, connect):
    chat = server(READS)
    alice, bob = room_of(chat, connect, 2)
    alice.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for piece in (b"hel", b"lo, w", "orld, caf".encode() + b"\xc3", b"\xa9\n"):  # é in two
        alice.send_raw(piece)
        time.sleep(0.05)  # each piece in a segment, and a recv, of its own
    piece = "handle: one LineBuffer per member, for its whole connection"
    hears(bob, chat, f"<{FIRST}> hello, world, café", "the other client",
          "a line sent in four pieces", piece)
    alice.send_raw(b"two\nthree\n")
    hears(bob, chat, f"<{FIRST}> two", "the other client", "b'two\\nthree\\n' in one send", piece)
    hears(bob, chat, f"<{FIRST}> three", "the other client", "b'two\\nthree\\n' in one send", piece)


def collect(client, chat, last_lines, who, quiet=0.3):
    """Every line ``client`` gets until each of ``last_lines`` has come, and then the rest,
    until nothing has come for ``quiet`` seconds."""
    waiting = set(last_lines)

    def seen(line):
        waiting.discard(line)
        return not waiting

    try:
        lines = client.read_until(seen, limit=10_000)
    except (OSError, EOFError):
        raise AssertionError(f"{who} never got {sorted(waiting)[0]!r}: broadcast_lines sends "
                             f"each line to every member but its sender{chat.raised()}") from None
    for _ in range(10_000):
        try:
            lines.append(client.read_line(timeout=quiet))
        except (OSError, EOFError):  # quiet, or closed
            break
    return lines


@pytest.mark.points(3)
def test_every_other_member_gets_each_line_once_in_order_and_the_sender_none(server, connect):
    chat = server(READS)
    people = room_of(chat, connect, 3)
    names = [FIRST, SECOND, THIRD]
    said = {name: [f"<{name}> {letter}{n}" for n in range(40)] for name, letter in zip(names, "ab")}
    for person, name in zip(people[:2], names):
        person.send_raw("".join(line.split("> ", 1)[1] + "\n" for line in said[name]).encode())
    for person, name in zip(people, names):
        others = [other for other in said if other != name]
        got = collect(person, chat, [said[other][-1] for other in others], name)
        own = [line for line in got if line.startswith(f"<{name}> ")]
        assert not own, (f"{name} got its own line back ({own[0]!r}): broadcast_lines sends to "
                         f"every member but the sender{chat.raised()}")
        for other in others:
            from_other = [line for line in got if line.startswith(f"<{other}> ")]
            assert from_other == said[other], (
                f"{name} should get {other}'s 40 lines once each, in order: "
                f"{difference(from_other, said[other])}: broadcast_lines sends each member the "
                f"lines once, in one send")


@pytest.mark.points(2)
def test_commands_are_carried_out(server, connect):
    chat = server(LEAVES)
    alice, bob = room_of(chat, connect, 2)
    piece = "handle_lines gives a line that starts with '/' to command()"
    # What reaches alice about herself is for the test of broadcast_lines to judge.
    news = re.compile(r"\* \S+ joined|" + re.escape(f"* {FIRST} is now alice"))
    alice.send("/nick alice")
    hears(alice, chat, "* you are now alice", "alice", "alice sent '/nick alice'", piece, news)
    hears(bob, chat, f"* {FIRST} is now alice", "bob", "alice sent '/nick alice'", piece)
    alice.send("/who")
    hears(alice, chat, f"* 2 here: {SECOND}, alice", "alice", "alice sent '/who'", piece, news)
    alice.send("/quit")
    try:
        rest = alice.read_to_end()
    except OSError:
        raise AssertionError(
            f"after '/quit' the server should close alice's connection: handle() returns when "
            f"handle_lines returns False, and farewell() closes the socket{chat.raised()}") from None
    while rest and NEWS.fullmatch(rest[0]):  # bob's "joined" may come late: room_of's docstring
        rest.pop(0)
    assert rest == ["* Bye!"], f"after '/quit', alice should get '* Bye!' and no more, got {rest}"


@pytest.mark.points(2)
def test_lines_said_before_a_nick_keep_the_old_name(server, connect):
    chat = server(READS)
    alice, bob = room_of(chat, connect, 2)
    alice.send_raw(b"before\n/nick zed\nafter\n")  # in one send: they arrive together
    after = "b'before\\n/nick zed\\nafter\\n' in one send"
    piece = ("handle_lines keeps the order: the chat lines before a command go out before it "
             "acts")
    hears(bob, chat, f"<{FIRST}> before", "bob", after, piece)
    hears(bob, chat, f"* {FIRST} is now zed", "bob", after, piece)
    hears(bob, chat, "<zed> after", "bob", after, piece)


# -- going ------------------------------------------------------------------------------------

@pytest.mark.points(2)
def test_a_client_that_leaves_is_announced_and_its_thread_ends(sandbox, server, connect):
    chat = server(LEAVES)
    alice, bob = room_of(chat, connect, 2)
    threads = sandbox.call("threading:active_count")
    alice.close()
    hears(bob, chat, f"* {FIRST} left", "bob", "alice closed her connection",
          "handle() returns when receive gives b'', then farewell() tells the others")
    events = chat.wait_for_event(f"{FIRST} disconnected")
    assert f"{FIRST} disconnected" in events, (
        f"the console should be told '{FIRST} disconnected' (farewell, with on_event); it was "
        f"told {shortened(events)}")
    names = [member.get("name") for member in chat.remote.get("room").members()]
    assert names == [SECOND], f"alice left, so only bob should be in the room; it holds {names}"
    deadline = time.monotonic() + 2.0
    while sandbox.call("threading:active_count") >= threads and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox.call("threading:active_count") < threads, (
        "alice's thread still runs 2 s after she left: handle() should return once receive "
        "gives b'' (a loop on b'' spins for ever)")


@pytest.mark.points(2)
def test_a_client_that_stops_reading_is_dropped_and_the_others_go_on(server, connect):
    chat = server(LEAVES, max_backlog=32 * 1024)
    stuck = stuck_client(chat, connect)
    sender, reader = room_of(chat, connect, 2)
    lines = [f"{n:04} " + "x" * 1000 for n in range(400)]
    got = queue.Queue()

    def relay():
        try:
            got.put(reader.read_until(f"<{SECOND}> the end", timeout=10))
        except (OSError, EOFError, AssertionError):
            got.put([])

    relaying = threading.Thread(target=relay, daemon=True)
    relaying.start()

    def dropped(event):
        return event.startswith(f"{FIRST} dropped")

    for start in range(0, len(lines), 20):  # until it is dropped, at most 400 kB
        sender.send_raw("".join(line + "\n" for line in lines[start:start + 20]).encode())
        if any(dropped(event) for event in chat.events()):
            break
    sender.send("the end")
    relayed = [line.split("> ", 1)[1] for line in got.get(timeout=12)
               if line.startswith(f"<{SECOND}> ")]
    assert relayed[-1:] == ["the end"], (
        f"the reader should get every line while one client is stuck; it got {len(relayed)} "
        f"lines and not the last: one member that does not read must not hold up the others "
        f"(broadcast_lines sends through each outbox, which never waits){chat.raised()}")
    sent = lines[:start + 20]
    assert relayed[:-1] == sent, (
        f"the reader should get the {len(sent)} lines sent, once each and in order: "
        f"{difference(relayed[:-1], sent)}{chat.raised()}")
    stuck.settimeout(2.0)
    assert closed_by_the_server(stuck), (
        f"a client that stopped reading, {len(sent)} kB behind with max_backlog=32768, should be "
        f"hung up: broadcast_lines hangs up a member whose outbox refuses the lines{chat.raised()}")
    assert any(dropped(event) for event in chat.wait_for_event(dropped)), (
        f"the console should be told '{FIRST} dropped: it stopped reading (over 32768 bytes "
        f"waiting)' (farewell, when the outbox overflowed); it was told "
        f"{shortened(chat.events()[-3:])}")


@pytest.mark.points(2)
def test_a_client_that_pauses_gets_every_line_once_it_reads_again(server, connect):
    chat = server(READS, max_backlog=1 << 20)
    paused = stuck_client(chat, connect)  # reads nothing until bob has said everything
    bob, carol = room_of(chat, connect, 2)
    said = [f"<{SECOND}> {n:03} " + "x" * 1000 for n in range(200)]  # 200 kB: more than the
    for start in range(0, len(said), 20):  # buffers hold, well under max_backlog
        bob.send_raw("".join(line.split("> ", 1)[1] + "\n" for line in said[start:start + 20]).encode())
    try:
        carol.read_until(said[-1], timeout=10)  # then every line has gone to every outbox
    except (OSError, EOFError, AssertionError):
        raise AssertionError(f"carol never got bob's 200th line: broadcast_lines sends each line to "
                             f"every member but its sender{chat.raised()}") from None
    last, data = (said[-1] + "\n").encode(), bytearray()
    deadline = within(5.0)  # nobody speaks now: only the paused member's own thread can send
    while last not in data and readable(paused, left(deadline)):
        chunk = paused.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    got = [line for line in data.decode("utf-8", "replace").split("\n") if line.startswith(f"<{SECOND}> ")]
    assert got == said, (
        f"a client paused while bob sent 200 lines (its backlog under max_backlog), then read "
        f"again: it should get all 200, once each and in order; {difference(got, said)}. What "
        f"its socket could not take waits in its outbox: handle() waits for the socket to be "
        f"writable too while the outbox has a backlog, and then flushes it{chat.raised()}")


@pytest.mark.points(2)
def test_stop_says_goodbye_and_returns_within_its_timeout(server, connect):
    chat = server(STOPS)
    stuck_client(chat, connect)  # behind when the server stops: it can take no goodbye
    alice, bob = room_of(chat, connect, 2)
    for start in range(0, 40, 10):
        alice.send_raw(b"".join(b"%02d " % n + b"y" * 1000 + b"\n" for n in range(start, start + 10)))
    bob.read_until(lambda line: line.startswith(f"<{SECOND}> 39 "), timeout=5)
    took = stopped(chat, 1.0)
    assert took < 1.0 + SLACK, (
        f"stop(timeout=1.0) took {took:.1f} s, with a client that is not reading: say_goodbye "
        "gives up at stop's deadline, and stop waits for the threads until then, not longer")
    for person, name in ((alice, "alice"), (bob, "bob")):
        try:
            rest = person.read_to_end()
        except OSError:
            raise AssertionError(f"after stop(), {name}'s connection should be closed: stop "
                                 f"wakes every member's thread{chat.raised()}") from None
        assert rest[-1:] == [GOODBYE], (
            f"after stop(), {name} should get {GOODBYE!r} last, then the connection closes; it "
            f"got {shortened(rest[-3:])}: serve() says goodbye when the server is stopping")
    try:
        socket.create_connection(chat.address, timeout=2.0).close()
    except OSError:
        pass  # refused: no one listens there any more
    else:
        raise AssertionError("after stop(), the server should no longer accept connections: "
                             "stop closes the listening socket")
