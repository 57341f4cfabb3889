"""One person cannot spoil the room (issue 11), each way tried for real.

Idle connections that fill the room, a machine that vanishes without a word,
a flood, a name that looks like someone else's, lines the server accepts but
a client would not show, and a server that cannot start another thread. The
clients are real sockets on loopback; a vanished machine is a network
namespace whose link goes down, and the thread limit is the kernel's
RLIMIT_NPROC on a server run as an unprivileged user. Namespaces and limits
need Linux and root: elsewhere those tests are skipped and say why.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from chatroom.protocol import MAX_LINE_BYTES, MAX_RELAYED_BYTES
from chatroom.defences import SLOW_DOWN, address_key
from chatroom.defences import DefendedServer as ChatServer
from chatroom.server import GOODBYE, plain_host
from chat_client import LineClient, chat_lines
from wire import lines_before_who  # tests/grading/wire.py, on the path chat_client sets
from conftest import ROOT, script_env
from test_lab_two_hosts import ip, why_no_namespaces

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 5.0  # for any one socket operation; none should come near it
WELCOME = "* Welcome to the chat room, {}! Type /help for commands."
ADDRESS_FULL = "* Sorry, {} people are connected from your address ({}) already. Try again later."
LONGEST_NAME = "abcdefghij0123456789"  # 20 characters, the most a nickname has
KEEPALIVE_OPTION = socket.SOL_SOCKET, socket.SO_KEEPALIVE


class Client(LineClient):
    """A LineClient that can connect from another loopback address (127.0.0.2) and
    offer a small receive window, as a slow or distant machine does."""

    def __init__(self, address, source=None, receive_buffer=None, timeout=TIMEOUT):
        self.sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
        try:
            self.sock.settimeout(timeout)
            if receive_buffer:  # before connecting: it sets the window this client offers
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            if source:
                self.sock.bind((source, 0))
            self.sock.connect(address)
        except OSError:
            self.sock.close()
            raise
        self._pending, self._ready = b"", []


@pytest.fixture
def dial():
    """dial(address, **options) -> a connected Client, closed after the test."""
    clients = []

    def dial_one(address, **options):
        clients.append(Client(address, **options))
        return clients[-1]

    yield dial_one
    for client in clients:
        client.close()


ANSWERS_TO_NICK = ("* you are now ", "* the nickname ", "* a nickname ", "* usage: ")


def nick(client, name):
    """Ask for ``name``; return the server's answer (past the notices before it)."""
    client.send(f"/nick {name}")
    return client.read_until(lambda line: line.startswith(ANSWERS_TO_NICK))[-1]


def second_loopback_address():
    """127.0.0.2, or a skip where only 127.0.0.1 answers (macOS, unless aliased)."""
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.2", 0))
    except OSError:
        pytest.skip("127.0.0.2 is not usable here (macOS has only 127.0.0.1 unless aliased)")
    finally:
        probe.close()
    return "127.0.0.2"


# --- 1. Idle connections: one address fills its share, never the room ------------

def test_idle_connections_fill_their_address_not_the_room(events, dial):
    other_address = second_loopback_address()
    with ChatServer(on_event=events.put) as server:  # the default: 10 per address
        idle = [dial(server.address) for _ in range(10)]  # they never send a byte
        for _ in idle:
            events.wait_for(" connected")
        for _ in range(3):
            assert dial(server.address).read_to_end() == [ADDRESS_FULL.format(10, "127.0.0.1")]
        began = time.monotonic()
        newcomer = dial(server.address, source=other_address)
        assert newcomer.read_line() == WELCOME.format("127.0.0.2")
        waited = time.monotonic() - began
        assert waited < 1.0, f"the newcomer from another address waited {waited:.2f} s"

        idle[0].close()  # one leaves: its address has room for one more
        events.wait_for("127.0.0.1 disconnected")
        assert dial(server.address).read_line() == WELCOME.format("127.0.0.1")
        assert dial(server.address).read_to_end()[-1].startswith("* Sorry, 10 people")


def test_the_limit_per_address_is_an_option_and_the_room_limit_stays(events, dial):
    other_address = second_loopback_address()
    with ChatServer(max_clients=4, max_per_address=2, on_event=events.put) as server:
        for name in ("127.0.0.1", "127.0.0.1#2"):
            assert dial(server.address).read_line() == WELCOME.format(name)
        assert dial(server.address).read_to_end() == [ADDRESS_FULL.format(2, "127.0.0.1")]
        assert events.wait_for("turned away") == (
            "127.0.0.1#3 turned away: 2 people are connected from your address (127.0.0.1) "
            "already")
        for name in ("127.0.0.2", "127.0.0.2#2"):
            assert dial(server.address, source=other_address).read_line() == \
                WELCOME.format(name)
        assert dial(server.address, source=other_address).read_to_end() == [
            "* Sorry, the room is full (4 people). Try again later."]


FIRST_LINES = """if True:
    import socket
    from chatroom.defences import DefendedServer as ChatServer
    def first_line(address, source):
        sock = socket.create_connection(address, timeout=5, source_address=(source, 0))
        print(sock.recv(200).decode().strip(), flush=True)
        return sock
    with ChatServer("fd00:a::1", max_per_address=2) as server:
        clients = [first_line(server.address, source) for source in
                   ("fd00:a::2", "fd00:a::2", "fd00:a::2", "fd00:a::3", "fd00:b::2")]
    with ChatServer("::") as server:  # all addresses, IPv4 too where the system can
        clients = [first_line((host, server.address[1]), host) for host in ("127.0.0.1", "::1")]
    """
"""Connects to servers in a namespace of its own, with addresses in two /64 networks;
prints the first line each connection gets."""


def test_ipv6_addresses_count_one_by_one(scratch_namespace):
    # A /64 is usually a whole LAN (a lab room): each IPv6 address counts on its own.
    for address in ("fd00:a::1", "fd00:a::2", "fd00:a::3", "fd00:a::4", "fd00:b::2"):
        ip("-n", scratch_namespace, "addr", "add", f"{address}/64", "dev", "lo", "nodad")
    result = subprocess.run(["ip", "netns", "exec", scratch_namespace, sys.executable, "-c",
                             FIRST_LINES], capture_output=True, text=True, timeout=30,
                            env=script_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        WELCOME.format("fd00:a::2"), WELCOME.format("fd00:a::2#2"),
        ADDRESS_FULL.format(2, "fd00:a::2"),
        WELCOME.format("fd00:a::3"), WELCOME.format("fd00:b::2"),
        WELCOME.format("127.0.0.1"),  # not ::ffff:127.0.0.1
        WELCOME.format("::1")]


def test_addresses_as_people_know_them():
    assert plain_host("::ffff:10.0.0.5") == "10.0.0.5"
    assert plain_host("fe80::1%eth0") == "fe80::1"
    assert address_key("2001:db8:1:2::5") != address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::5") == address_key("2001:db8:1:2:0::5")
    assert address_key("10.0.0.5") != address_key("10.0.0.6")


# --- 2. A vanished machine: keepalive notices it, and its name is freed ----------

SERVER = """if True:
    import ast, sys
    from chatroom.defences import DefendedServer as ChatServer
    server = ChatServer(sys.argv[1], 0, keepalive=ast.literal_eval(sys.argv[2]),
                        on_event=lambda text: print(text, flush=True)).start()
    print("listening on port", server.address[1], flush=True)
    server.serve_forever()
    print("stopped", flush=True)
    """
"""A server in a process of its own: ``python -c SERVER HOST KEEPALIVE``; it prints
its events, and stops at Ctrl-C. Its only threads: the main one, the one accepting
connections, and one for each client."""
SERVER_HOST, CLIENT_HOST = "10.79.0.1", "10.79.0.2"


class Machines:
    """Two network namespaces, the server's and a client's, joined by a veth cable
    whose client end can be pulled out: no FIN, no RST, just silence."""

    def __init__(self):
        tag = os.getpid()
        self.server, self.client = f"abuse-server-{tag}", f"abuse-client-{tag}"
        self.cable_server, self.cable_client = f"ab{tag}s"[-15:], f"ab{tag}c"[-15:]

    def build(self):
        ip("netns", "add", self.server)
        ip("netns", "add", self.client)
        ip("link", "add", self.cable_server, "type", "veth", "peer", "name", self.cable_client)
        for host, cable, address in ((self.server, self.cable_server, SERVER_HOST),
                                     (self.client, self.cable_client, CLIENT_HOST)):
            ip("link", "set", cable, "netns", host)
            ip("-n", host, "addr", "add", f"{address}/24", "dev", cable)
            ip("-n", host, "link", "set", cable, "up")
            ip("-n", host, "link", "set", "lo", "up")

    def pull_the_cable(self):
        ip("-n", self.client, "link", "set", self.cable_client, "down")

    def remove(self):
        for host in (self.server, self.client):  # removing one removes its end of the cable
            subprocess.run(["ip", "netns", "del", host], capture_output=True, timeout=30)

    def run(self, scripts, host, *arguments):
        """Start ``python ARGUMENTS`` in ``host``'s namespace, as a Script."""
        return scripts("netns", "exec", host, sys.executable, *arguments, program="ip")


def namespaces_or_skip(build, remove):
    reason = why_no_namespaces()
    if reason:
        pytest.skip(reason)
    try:
        build()
    except OSError as problem:
        remove()
        pytest.skip(f"this machine does not allow network namespaces: {problem}")


@pytest.fixture
def machines():
    lab = Machines()
    namespaces_or_skip(lab.build, lab.remove)
    yield lab
    lab.remove()


@pytest.fixture
def scratch_namespace():
    """An empty network namespace with its loopback up, removed afterwards."""
    name = f"abuse-scratch-{os.getpid()}"

    def build():
        ip("netns", "add", name)
        ip("-n", name, "link", "set", "lo", "up")

    def remove():
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
    namespaces_or_skip(build, remove)
    yield name
    remove()


def test_a_vanished_machine_is_noticed_and_its_name_freed(machines, scripts):
    server = machines.run(scripts, machines.server, "-c", SERVER, SERVER_HOST, "(1, 1, 2)")
    port = server.wait_for("listening on port")[-1].split()[-1]
    carol = machines.run(scripts, machines.client, "-m", "chatroom.client", SERVER_HOST, port)
    carol.wait_for("* Welcome")
    carol.type("/nick carol")
    carol.wait_for("* you are now carol")
    witness = machines.run(scripts, machines.server, "-m", "chatroom.client", SERVER_HOST, port)
    witness.wait_for("* Welcome")
    carol.wait_for(f"* {SERVER_HOST} joined")  # the room is quiet from here on

    machines.pull_the_cable()
    pulled = time.monotonic()
    server.wait_for("carol disconnected", timeout=20)
    noticed = time.monotonic() - pulled
    # Probes after 1 s of silence, 1 s apart, 2 unanswered: gone after about 3 s.
    assert noticed < 10, f"the vanished machine was noticed after {noticed:.1f} s"
    witness.wait_for("* carol left")
    witness.type("/nick carol")
    witness.wait_for("* you are now carol")

    server.process.send_signal(signal.SIGINT)
    code, rest, stderr = server.finish()
    assert code == 0 and "stopped" in rest and "Traceback" not in stderr


def test_every_member_socket_has_keepalive_with_the_default_timers(events, dial):
    with ChatServer(on_event=events.put) as server:
        dial(server.address).joined()
        sock = server.room.members()[0].sock
        assert sock.getsockopt(*KEEPALIVE_OPTION) != 0
        # Linux and Windows call the idle time TCP_KEEPIDLE, macOS TCP_KEEPALIVE.
        idle = getattr(socket, "TCP_KEEPIDLE", getattr(socket, "TCP_KEEPALIVE", None))
        timers = [(idle, 60), (getattr(socket, "TCP_KEEPINTVL", None), 10),
                  (getattr(socket, "TCP_KEEPCNT", None), 5),
                  (getattr(socket, "TCP_USER_TIMEOUT", None), 110_000)]  # Linux only
        for option, wanted in timers:
            if option is not None:
                assert sock.getsockopt(socket.IPPROTO_TCP, option) == wanted
    with ChatServer(keepalive=None, on_event=events.put) as server:
        dial(server.address).joined()
        assert server.room.members()[0].sock.getsockopt(*KEEPALIVE_OPTION) == 0


# --- 3. Floods: the flooder waits, the others do not --------------------------------

def flood(sock, data, stop):
    """Send ``data`` as fast as the server takes it, until all is sent or ``stop`` is set."""
    sock.settimeout(0.2)
    sent = 0
    while sent < len(data) and not stop.is_set():
        try:
            sent += sock.send(data[sent:sent + 65536])
        except socket.timeout:
            continue  # the server reads no more from us for now: TCP pushes back
        except OSError:
            return


def read_paced(client, bytes_per_second, heard, until):
    """Read like a slow machine: after each line, pause as long as it takes at that pace.

    Appends (arrival time, line) to ``heard`` until the goodbye, the time ``until``, or
    the end of the connection, which appends (time, None).
    """
    client.sock.settimeout(0.2)
    while time.monotonic() < until:
        try:
            line = client.read_line()
        except socket.timeout:
            continue
        except (EOFError, ConnectionError):
            heard.append((time.monotonic(), None))
            return
        heard.append((time.monotonic(), line))
        if line == GOODBYE:
            return
        time.sleep((len(line) + 1) / bytes_per_second)


def test_a_flood_is_slowed_and_the_room_goes_on(no_leftovers, events, dial):
    server = ChatServer(on_event=events.put).start()  # the default: 10 at once, then 2 a second
    try:
        # The allowance is the address's: the flooder comes from an address of its own.
        reader, third = dial(server.address), dial(server.address)
        flooder = dial(server.address, source=second_loopback_address())
        for client in (reader, flooder, third):
            client.joined()
        assert nick(reader, "reader") == "* you are now reader"
        assert nick(flooder, "flooder") == "* you are now flooder"
        assert nick(flooder, "reader") == "* the nickname reader is taken: it looks like reader"
        said = [f"flood {number:05} " + "x" * 1000 for number in range(20_000)]  # 20 MB
        stop_flooding, heard = threading.Event(), []
        began = time.monotonic()
        threads = [threading.Thread(target=flood, args=(flooder.sock, "".join(
                       line + "\n" for line in said).encode(), stop_flooding)),
                   threading.Thread(target=read_paced, args=(reader, 100_000, heard,
                                                             began + 8))]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        sent_at = time.monotonic()
        third.send("an honest line")
        time.sleep(1.5)
        counted_at = time.monotonic()
        flooded = sum(1 for at, line in list(heard) if at <= counted_at and line
                      and line.startswith("<flooder> "))
        stopping = time.monotonic()
        server.stop()  # while the flood goes on
        stop_seconds = time.monotonic() - stopping
        stop_flooding.set()
        for thread in threads:
            thread.join(TIMEOUT)
    finally:
        server.stop()

    # The burst of 10, less the flooder's 3 commands above (/who, /nick twice), then 2 a second.
    expected = 10 - 3 + 2 * (counted_at - began)
    assert expected - 3 <= flooded <= expected + 1, (
        f"{flooded} of the flooder's lines reached the reader in {counted_at - began:.1f} s")
    assert heard[-1][1] == GOODBYE, f"the reader was dropped: {heard[-3:]}"
    assert [event for event in list(events.queue) if "dropped" in event] == []
    honest = [at for at, line in heard if line == f"<{third.name}> an honest line"]
    assert len(honest) == 1 and honest[0] - sent_at < 0.5
    relayed = [line for _, line in heard if line and line.startswith("<flooder> ")]
    assert relayed == [f"<flooder> {line}" for line in said[:len(relayed)]]  # none lost
    assert stop_seconds < 1.5
    flooder.sock.settimeout(TIMEOUT)
    notices = [line for line in flooder.read_to_end() if line.startswith("* Slow down")]
    assert notices == [SLOW_DOWN.format(burst=10, rate=2.0)]
    assert events.wait_for("is flooding") == "flooder is flooding: its lines are delayed"
    assert not [line for _, line in heard if line and line.endswith(" is now reader")]


def test_a_person_who_sends_a_line_a_second_is_never_slowed(events, dial):
    with ChatServer(on_event=events.put) as server:
        # The allowance is per address: alice's is her own, whatever bob sends.
        alice = dial(server.address, source=second_loopback_address())
        assert alice.read_line() == WELCOME.format("127.0.0.2")  # she sends no command
        alice.name = "127.0.0.2"
        bob = dial(server.address)
        bob.joined()
        paste = [f"pasted line {number}" for number in range(10)]  # the burst, at once
        alice.send_raw("".join(line + "\n" for line in paste).encode())
        assert chat_lines(bob.read_until(f"<{alice.name}> {paste[-1]}")) == \
            [f"<{alice.name}> {line}" for line in paste]
        for number in range(4):
            time.sleep(1.0)
            sent = time.monotonic()
            alice.send(f"typed line {number}")
            assert bob.read_line() == f"<{alice.name}> typed line {number}"
            assert time.monotonic() - sent < 0.5, f"line {number} was held back"
        assert lines_before_who(alice) == [f"* {bob.name} joined"]  # no "* Slow down"
        assert [event for event in list(events.queue) if "flooding" in event] == []


def reconnect_and_flood(address, source, lines, until):
    """One attacker's connection, again and again until ``until``: connect, send its
    burst of ``lines``, hang up, and come back at once."""
    burst = "".join(f"flood {number}\n" for number in range(lines)).encode()
    for _ in range(10_000):
        if time.monotonic() >= until:
            return
        try:
            with socket.create_connection(address, timeout=TIMEOUT,
                                          source_address=(source, 0)) as sock:
                sock.sendall(burst)
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            time.sleep(0.01)  # refused at the limit per address: try again


def test_a_flood_by_reconnecting_earns_no_fresh_burst(events, dial):
    """One address keeps 10 connections churning, each with a fresh burst of 10 lines
    (before: 9,210 lines/s and 1,842 notices/s reached everyone). The allowance is the
    address's, across reconnects: lines and join/leave notices come at a person's pace,
    and a reader at 100 KB/s is never pushed out."""
    source = second_loopback_address()
    with ChatServer(on_event=events.put) as server:
        reader = dial(server.address)
        reader.joined()
        began = time.monotonic()
        attackers = [threading.Thread(target=reconnect_and_flood,
                                      args=(server.address, source, 10, began + 4))
                     for _ in range(10)]
        heard = []
        pacer = threading.Thread(target=read_paced, args=(reader, 100_000, heard, began + 6))
        for thread in attackers + [pacer]:
            thread.start()
        for thread in attackers + [pacer]:
            thread.join(TIMEOUT * 3)
        seconds = 6.0
        flood = [line for _, line in heard if line and line.startswith(f"<{source}")]
        notices = [line for _, line in heard if line and line.startswith(f"* {source}")
                   and line.endswith((" joined", " left"))]
        assert len(flood) / seconds <= 40, f"{len(flood)} flood lines in {seconds:g} s"
        assert len(notices) / seconds <= 20, f"{len(notices)} notices in {seconds:g} s"
        assert [event for event in list(events.queue) if "dropped" in event] == []
        reader.send("/who")
        assert reader.read_until(lambda line: " here: " in line)


def test_the_last_places_are_kept_for_people_not_here_yet(events, dial):
    """One machine fills the room with idle connections; its last tenth stays open for
    newcomers from addresses not here yet."""
    other = second_loopback_address()
    with ChatServer(max_clients=20, max_per_address=20, on_event=events.put) as server:
        hogs = [dial(server.address) for _ in range(18)]
        for number, hog in enumerate(hogs, 1):
            assert hog.read_line().startswith("* Welcome"), number
        assert dial(server.address).read_to_end() == [
            "* Sorry, the room's last places are kept for people who are not here yet. "
            "Try again later."]
        assert dial(server.address, source=other).read_line() == WELCOME.format(other)


def talk_until(client, stop, limit=1000):
    """Someone else talking in the room meanwhile, a line every 50 ms."""
    for number in range(limit):
        if stop.wait(0.05):
            return
        client.send(f"talking {number}")


@pytest.mark.parametrize("ending", ["/quit", "end of input"])
def test_nothing_pasted_is_lost_when_the_paster_leaves(events, dial, scripts, ending):
    """A person pastes 40 lines into the kit's client and leaves at once (/quit, or
    Ctrl-D), while someone else talks (before: 12 of 40 arrived). Flood control holds
    the paste; the client waits until the server has passed it all on."""
    other = second_loopback_address()
    with ChatServer(flood_limit=(10, 10.0), on_event=events.put) as server:
        reader, talker = dial(server.address, source=other), dial(server.address, source=other)
        reader.joined(), talker.joined()
        paster = scripts("-m", "chatroom.client", "127.0.0.1", str(server.address[1]))
        paster.wait_for("* Welcome")
        stop = threading.Event()
        talking = threading.Thread(target=talk_until, args=(talker, stop))
        talking.start()
        try:
            paste = "".join(f"pasted line {number}\n" for number in range(40))
            paster.process.stdin.write(paste + ("/quit\n" if ending == "/quit" else ""))
            paster.process.stdin.close()  # Ctrl-D after the paste, in both cases
            lines = reader.read_until(lambda line: line.endswith("pasted line 39"))
        finally:
            stop.set()
            talking.join(TIMEOUT)
        code, _, _ = paster.finish(timeout=30)
    pasted = [line for line in lines if "> pasted line " in line]
    assert [line.rsplit(" ", 1)[1] for line in pasted] == [str(n) for n in range(40)], pasted
    assert code == 0


# --- 4. Impersonation --------------------------------------------------------------

@pytest.mark.parametrize("name, notice", [
    ("You", "* the nickname You is reserved: it looks like You"),
    ("you", "* the nickname you is reserved: it looks like You"),
    ("YOU", "* the nickname YOU is reserved: it looks like You"),
    ("Y0U", "* the nickname Y0U is reserved: it looks like You"),
    ("aIice", "* the nickname aIice is taken: it looks like alice"),  # a capital i
    ("ALICE", "* the nickname ALICE is taken: it looks like alice"),
    ("a1ice", "* the nickname a1ice is taken: it looks like alice"),
    ("alIce", "* the nickname alIce is taken: it looks like alice"),
    ("AL1CE", "* the nickname AL1CE is taken: it looks like alice"),
    ("b0b", "* the nickname b0b is taken: it looks like bob"),
    ("B0B", "* the nickname B0B is taken: it looks like bob"),
    ("b0B", "* the nickname b0B is taken: it looks like bob"),
    ("\u0430lice", "* a nickname is a letter, then up to 19 letters, digits, '_' or '-'"),
    ("127.0.0.1", "* a nickname is a letter, then up to 19 letters, digits, '_' or '-'"),
])
def test_names_that_look_like_another_are_refused(connect, name, notice):
    alice, bob, mallory = connect(), connect(), connect()
    assert nick(alice, "alice") == "* you are now alice"
    assert nick(bob, "bob") == "* you are now bob"
    assert nick(mallory, name) == notice
    assert nick(mallory, "alice2") == "* you are now alice2"  # a name of its own is fine
    assert [line for line in lines_before_who(alice) if line.endswith(f" is now {name}")] == []
    mallory.send("/who")
    assert mallory.read_until(lambda line: " here: " in line)[-1] == "* 3 here: alice, alice2, bob"


ASCII_LOOK_ALIKES = [("martin", "rnartin"), ("emma", "ernrna"), ("walter", "vvalter"),
                     ("dave", "clave"), ("sam", "sarn"), ("paige", "paiqe"), ("bob", "bob_"),
                     ("bob", "bob-"), ("jess", "je55"), ("LIZ", "LI2"), ("ROBB", "RO88")]


def test_ascii_look_alikes_are_refused_and_fair_names_kept(connect):
    """rn/m, vv/w, cl/d, q/g, 5/S, 2/Z, 8/B and a trailing _ or -: each taken beside
    the real name (the second round of attacks got 12 of 12 accepted)."""
    real, mallory = connect(), connect()
    for name, fake in ASCII_LOOK_ALIKES:
        if real.name != name:
            assert nick(real, name) == f"* you are now {name}"
            real.name = name
        assert nick(mallory, fake) == f"* the nickname {fake} is taken: it looks like {name}"
    for fair in ("alicia", "your", "robin", "ella"):
        assert nick(mallory, fair) == f"* you are now {fair}"


def test_invisible_text_is_stripped_and_an_empty_line_not_relayed(connect):
    """Tag characters carry a hidden sentence inside a visible line; zero-width and other
    format characters pass unseen. None reaches a reader, and a line of nothing else is
    not relayed at all."""
    alice, bob = connect(), connect()
    hidden = "".join(chr(0xE0000 + ord(char)) for char in "send the report to mallory")
    alice.send("see you at noon" + hidden)
    alice.send("\u200b\u200c\u200d\u2060\ufeff\u061c\u200e")  # nothing visible at all
    alice.send("after")
    assert chat_lines(bob.read_until(lambda line: line.endswith("> after"))) == [
        f"<{alice.name}> see you at noon", f"<{alice.name}> after"]


def test_blank_padding_arrives_as_single_spaces(dial):
    with ChatServer(flood_limit=None, on_event=lambda text: None) as server:
        alice, bob = dial(server.address), dial(server.address)
        alice.joined(), bob.joined()
        blanks = " \u00a0\u3164\u115f\u1160\uffa0\u2800\u3000\t"
        alice.send(" " * 120 + "hi" + "\u00a0" * 120 + "there" + "\u3164" * 120 + "!" + blanks * 9)
        alice.send(blanks * 10)  # nothing but blanks: nothing to relay
        alice.send("* alice is now mallory")
        assert chat_lines(bob.read_until(lambda line: "mallory" in line)) == [
            f"<{alice.name}> hi there !", f"<{alice.name}> * alice is now mallory"]


def test_people_from_one_address_are_told_apart_and_names_reused(server, dial):
    first, second = dial(server.address), dial(server.address)
    assert first.read_line() == WELCOME.format("127.0.0.1")
    assert second.read_line() == WELCOME.format("127.0.0.1#2")
    assert first.read_line() == "* 127.0.0.1#2 joined"
    first.send("from the first")
    second.send("from the second")
    # the first's own "* 127.0.0.1 joined" may reach the second: its thread says it in its time
    assert second.read_until(lambda line: line.startswith("<"))[-1] == "<127.0.0.1> from the first"
    assert first.read_line() == "<127.0.0.1#2> from the second"
    third = dial(server.address)
    assert third.read_line() == WELCOME.format("127.0.0.1#3")
    second.close()
    assert first.read_until("* 127.0.0.1#2 left")
    assert dial(server.address).read_line() == WELCOME.format("127.0.0.1#2")  # freed, reused
    assert nick(first, "alice") == "* you are now alice"
    assert dial(server.address).read_line() == WELCOME.format("127.0.0.1")


# --- 5. Accepted, so shown: long lines, a long /who, CR line ends, the goodbye ----

LONGEST_LINE = "é" * 1000 + "x" * (MAX_LINE_BYTES - 2000)  # 2048 bytes of UTF-8


def test_the_longest_line_from_the_longest_name_arrives_whole(connect):
    sender, reader = connect(), connect()
    assert nick(sender, LONGEST_NAME) == f"* you are now {LONGEST_NAME}"
    sender.send(LONGEST_LINE)
    sender.send(LONGEST_LINE + "y")  # one byte too many: refused, with a notice
    assert sender.read_line() == f"* line longer than {MAX_LINE_BYTES} bytes; not sent"
    relayed = reader.read_until(lambda line: line.startswith("<"))[-1]
    assert relayed == f"<{LONGEST_NAME}> {LONGEST_LINE}"
    assert MAX_LINE_BYTES < len(relayed.encode()) <= MAX_RELAYED_BYTES


def test_the_client_shows_the_longest_line_from_the_longest_name(server, connect, scripts):
    reader = scripts("-m", "chatroom.client", *map(str, server.address))
    reader.wait_for("* Welcome")
    sender = connect()
    assert nick(sender, LONGEST_NAME) == f"* you are now {LONGEST_NAME}"
    sender.send(LONGEST_LINE)
    sender.send("and a short one")
    seen = reader.wait_for(f"<{LONGEST_NAME}> and a short one")
    assert seen[-2] == f"<{LONGEST_NAME}> {LONGEST_LINE}"
    reader.type("/quit")
    assert reader.finish()[0] == 0


def test_who_in_a_full_room_of_long_names(server, dial):
    names = [f"member{number:03}".ljust(20, "x") for number in range(100)]
    for name in names:
        client = dial(server.address)
        client.read_until(lambda line: line.startswith("* Welcome"))
        assert nick(client, name) == f"* you are now {name}"
    client.send("/who")
    answer = client.read_until(lambda line: line.startswith("* 100 here: "))[-1:]
    while answer[-1].endswith(",") and len(answer) < 100:
        answer.append(client.read_line())
    assert len(answer) > 1 and answer[0].startswith("* 100 here: ")
    assert all(line.startswith("*   ") for line in answer[1:])
    assert max(len(line.encode()) for line in answer) <= MAX_LINE_BYTES
    listed = "".join(line.partition(":")[2] if n == 0 else line[1:]
                     for n, line in enumerate(answer))
    assert [name.strip() for name in listed.split(",")] == names
    assert dial(server.address).read_to_end() == [
        "* Sorry, the room is full (100 people). Try again later."]


def test_cr_alone_ends_a_line_and_cr_lf_makes_no_extra_one(connect):
    alice, bob = connect(), connect()
    bob.sock.settimeout(2.0)  # "one" and "two" come at once, with no LF ever sent
    alice.send_raw(b"one\rtwo\r")
    assert [bob.read_line(), bob.read_line()] == [f"<{alice.name}> one", f"<{alice.name}> two"]
    alice.send_raw(b"three\r\nfour\r")
    alice.send_raw(b"\nfive\r\n")  # a CR LF split between two sends
    assert chat_lines(bob.read_until(f"<{alice.name}> five")) == [
        f"<{alice.name}> three", f"<{alice.name}> four", f"<{alice.name}> five"]
    assert lines_before_who(alice) == [f"* {bob.name} joined"]  # no notice of an empty line


class SmallSendBuffers(ChatServer):
    """A server whose kernel takes little of each client's data at a time, as on a
    machine short of memory: what a slow client has not read waits in its outbox."""

    def newcomer(self, sock, address):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        return super().newcomer(sock, address)


def test_a_lagging_client_gets_its_lines_and_the_goodbye_at_stop(no_leftovers, events, dial):
    server = SmallSendBuffers(flood_limit=None, on_event=events.put).start()
    try:
        lagging = dial(server.address, receive_buffer=4096)
        lagging.joined()
        sender = dial(server.address)
        sender.joined()
        said = [f"{number:03} " + "y" * 996 for number in range(100)]  # 100 KB
        sender.send_raw("".join(line + "\n" for line in said).encode())
        sender.send("/who")  # answered once every line above went to every outbox
        sender.read_until(lambda line: " here: " in line)
        waiting = [member for member in server.room.members() if member.name == lagging.name]
        assert waiting[0].outbox.has_backlog()  # the lines really wait in the server
        stop_seconds = []
        stopper = threading.Thread(target=timed, args=(server.stop, stop_seconds))
        stopper.start()
        heard = []
        read_paced(lagging, 400_000, heard, time.monotonic() + 5)  # 0.25 s for 100 KB
        stopper.join(TIMEOUT)
    finally:
        server.stop()
    lines = [line for _, line in heard]
    assert chat_lines(lines) == [f"<{sender.name}> {line}" for line in said]
    assert lines[-1] == GOODBYE
    assert stop_seconds[0] < 1.5, f"stop() took {stop_seconds[0]:.2f} s"  # its timeout: 1 s


def timed(function, durations):
    """Call ``function()``; append how long it took to ``durations``."""
    began = time.monotonic()
    function()
    durations.append(time.monotonic() - began)


# --- 6. A server that cannot start another thread ---------------------------------

def why_no_thread_limit():
    if not sys.platform.startswith("linux"):
        return "RLIMIT_NPROC counts threads on Linux only"
    if os.geteuid() != 0:
        return "running the server as another user, under a process limit, needs root"
    missing = [tool for tool in ("setpriv", "prlimit") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} (util-linux) not installed"
    return None


def test_a_failed_thread_start_turns_one_newcomer_away(scripts):
    reason = why_no_thread_limit()
    if reason:
        pytest.skip(reason)
    # A user of its own, so that no other process counts against its limit of 4
    # threads: the main one, the accepting one, and two clients.
    user = str(60000 + os.getpid() % 5000)
    limited = ["prlimit", "--nproc=4:4", "setpriv", f"--reuid={user}", f"--regid={user}",
               "--clear-groups", sys.executable]
    if subprocess.run([*limited, "-c", "import chatroom.server"], capture_output=True,
                      cwd=ROOT, env=script_env(), timeout=30).returncode != 0:
        pytest.skip("python cannot run the package as an unprivileged user here")
    server = scripts(*limited[1:], "-c", SERVER, "127.0.0.1", "None", program=limited[0])
    address = ("127.0.0.1", int(server.wait_for("listening on port")[-1].split()[-1]))
    with Client(address) as one, Client(address) as two:
        one.joined(), two.joined()
        turned_away = []
        for _ in range(2):
            with Client(address) as excess:
                turned_away.append(excess.read_to_end())
            server.wait_for("turned away: the server cannot take anyone else right now")
        one.send("still here")
        assert two.read_line() == f"<{one.name}> still here"
        one.close()
        server.wait_for(f"{one.name} disconnected")
        for _ in range(20):  # its thread ends just after it says so
            with Client(address) as newcomer:
                if gets_in(newcomer):
                    break
            time.sleep(0.1)
        else:
            pytest.fail("no newcomer got in after one left")
        server.process.send_signal(signal.SIGINT)
        code, rest, stderr = server.finish()
        assert two.read_to_end()[-1] == GOODBYE
    assert code == 0 and "stopped" in rest and "Traceback" not in stderr, stderr
    assert turned_away == [
        ["* Sorry, the server cannot take anyone else right now. Try again later."]] * 2


def gets_in(client):
    """True if the server lets ``client`` in: /who is answered, not the connection closed."""
    try:
        client.joined()
    except (EOFError, ConnectionError):
        return False
    return True
