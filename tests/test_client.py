"""The client, in-process (run() with StringIO and pipes) and as a real subprocess."""

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chatroom import cli, client
from chatroom.protocol import MAX_LINE_BYTES, MAX_RELAYED_BYTES
from chatroom.server import ChatServer
from chat_client import LineClient
from conftest import run_script, script_env, server_port
from test_lab_two_hosts import ip, why_no_namespaces

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
        assert friend.read_until("<127.0.0.1#2> hello ☕")  # told apart from the friend
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
        assert friend.read_until("<127.0.0.1#2> second")[-2:] == [
            "<127.0.0.1#2> first", "<127.0.0.1#2> second"]
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


def test_run_shows_lines_up_to_the_longest_a_server_relays():
    longest = "<" + "n" * 20 + "> " + "x" * (MAX_RELAYED_BYTES - 23)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    with listener, socket.create_connection(listener.getsockname(), timeout=10) as sock:
        peer, _ = listener.accept()
        with peer:
            read_end, write_end = os.pipe()
            screen = io.StringIO()
            with os.fdopen(read_end) as keyboard, os.fdopen(write_end, "w"):
                thread, errors = run_in_thread(sock, keyboard, screen, True)
                peer.sendall(f"{longest}\n{longest}y\nshort\n".encode())
                peer.shutdown(socket.SHUT_WR)
                assert finished(thread, errors)
    assert screen.getvalue().splitlines() == [
        longest, f"* (a line over {MAX_RELAYED_BYTES} bytes was not shown)", "short",
        "* The server closed the connection."]


@pytest.mark.parametrize("keyboard", ["select", "thread"], ids=KEYBOARDS)
def test_client_subprocess_chats_and_quits(server, connect, scripts, keyboard):
    friend = connect()
    me = scripts("-m", "chatroom.client", "127.0.0.1", str(server.address[1]),
                 env=script_env(CHATROOM_KEYBOARD=keyboard))
    me.wait_for("* Welcome")
    friend.read_line()  # joined
    me.type("hello from a pipe")
    assert friend.read_until("<127.0.0.1#2> hello from a pipe")
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
    assert friend.read_until("<127.0.0.1#2> last words")
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


# --- What is sent is what is echoed, and what the others see --------------------------


def test_the_echo_is_what_the_others_see_and_nothing_else(server, connect):
    # The client cleans a line as the server does, so it never shows "<You> ..." for a
    # line the others do not get, or get otherwise.
    friend = connect()
    read_end, write_end = os.pipe()
    screen = io.StringIO()
    with LineClient(server.address) as me, os.fdopen(read_end) as keyboard:
        thread, errors = run_in_thread(me.sock, keyboard, screen, threaded_keyboard=False)
        friend.read_line()  # "* 127.0.0.1#2 joined"
        os.write(write_end, b"\x1b[31m\n"  # only an escape sequence: empty once cleaned
                            b" /who\n"  # a command, with a space before it
                            b"a \t  b\n"  # blanks: one space, as the server makes them
                            + "\u2800\n".encode()  # looks blank: the server drops it
                            + b"\xff" * 1000 + b"\n"  # 1000 bytes, but 3000 once each is "\ufffd"
                            + b"end\n/QUIT now\n")  # the server quits at "/quit" and any words
        os.close(write_end)
        assert friend.read_until("<127.0.0.1#2> end") == ["<127.0.0.1#2> a b", "<127.0.0.1#2> end"]
        assert finished(thread, errors)
    lines = screen.getvalue().splitlines()
    assert [line for line in lines if line.startswith("<")] == ["<You> a b", "<You> end"]
    assert f"* That line is over {MAX_LINE_BYTES} bytes; not sent." in lines
    assert "* 2 here: 127.0.0.1, 127.0.0.1#2" in lines  # the answer to " /who"
    assert lines[-1] == "* Bye!"


def test_a_line_of_2048_bytes_goes_whole_from_one_client_to_another(server, scripts):
    longest = "☕" * 600 + "é" * 100 + "x" * (MAX_LINE_BYTES - 2000)  # 2048 bytes of UTF-8
    assert len(longest.encode()) == MAX_LINE_BYTES
    sender = scripts("-m", "chatroom.client", *map(str, server.address))
    sender.wait_for("* Welcome")
    reader = scripts("-m", "chatroom.client", *map(str, server.address))
    reader.wait_for("* Welcome")
    sender.wait_for("joined")
    sender.type("/nick abcdefghij0123456789")  # the longest name: 20 characters
    sender.wait_for("* you are now abcdefghij0123456789")
    sender.type(longest)
    sender.type(longest + "y")  # one byte too many: the client does not send it
    sender.type("after")
    assert reader.wait_for("<abcdefghij0123456789> after")[-2:] == [
        f"<abcdefghij0123456789> {longest}", "<abcdefghij0123456789> after"]
    assert sender.wait_for("<You> after")[-3:] == [
        f"<You> {longest}", f"* That line is over {MAX_LINE_BYTES} bytes; not sent.",
        "<You> after"]
    for me in (sender, reader):
        quit_cleanly(me)


def quit_cleanly(me):
    """Type /quit: the client exits with 0, and nothing on stderr."""
    me.type("/quit")
    code, _, stderr = me.finish()
    assert (code, stderr) == (0, "")


# --- A server that does not read for a while -----------------------------------------

TYPED_LINES = 4000  # 8 MB: more than a loopback connection's buffers and a pipe hold


class Typist:
    """A thread that types ``lines`` into a client's standard input, then ends it."""

    def __init__(self, stdin, lines):
        self.stdin, self.lines, self.typed, self.done, self.gone = stdin, lines, 0, False, False
        self.thread = threading.Thread(target=self._type, daemon=True)
        self.thread.start()

    def _type(self):
        try:
            for line in self.lines:
                self.stdin.write(line + "\n")
                self.stdin.flush()
                self.typed += 1
            self.stdin.close()  # end of input: the client leaves
            self.done = True
        except (BrokenPipeError, ValueError):
            self.gone = True  # the client has exited

    def wait_until_stuck(self, seconds, limit=30.0):
        """Wait until the client has read nothing typed for ``seconds``: its send waits."""
        last, since, deadline = -1, time.monotonic(), time.monotonic() + limit
        while time.monotonic() < deadline:
            assert not self.gone, f"the client exited after {self.typed} lines"
            assert not self.done, "every line went out: the buffers never filled"
            if self.typed != last:
                last, since = self.typed, time.monotonic()
            elif time.monotonic() - since >= seconds:
                return
            time.sleep(0.05)
        raise AssertionError(f"the client kept reading for {limit} s")


@pytest.fixture
def bare_server():
    """A listening socket: the test plays the server by hand, and reads when it decides.

    Its small receive buffer fills sooner."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before listen()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(10)
    with listener:
        yield listener


def typing_into_a_full_connection(bare_server, scripts, keyboard="select"):
    """A client whose sends wait: the server has read nothing of 8 MB typed."""
    me = scripts("-m", "chatroom.client", *map(str, bare_server.getsockname()),
                 env=script_env(CHATROOM_KEYBOARD=keyboard))
    peer, _ = bare_server.accept()
    peer.settimeout(10)
    lines = [f"{number:05} " + "x" * 2000 for number in range(TYPED_LINES)]
    typist = Typist(me.process.stdin, lines)
    return me, peer, typist, lines


@pytest.mark.parametrize("keyboard", ["select", "thread"], ids=KEYBOARDS)
def test_the_client_waits_while_the_server_does_not_read(bare_server, scripts, keyboard):
    me, peer, typist, lines = typing_into_a_full_connection(bare_server, scripts, keyboard)
    with peer:
        typist.wait_until_stuck(cli.CONNECT_TIMEOUT + 0.5)  # it once gave up at this timeout
        received = bytearray()
        for _ in range(TYPED_LINES * 10):  # read everything, until the client leaves
            data = peer.recv(1 << 16)
            if not data:
                break
            received += data
    assert received.decode().splitlines() == lines  # every line, whole, in order
    code, _, stderr = me.finish()
    assert (code, stderr) == (0, "")
    assert sum(line.startswith("<You> ") for line in me.seen) == TYPED_LINES
    typist.thread.join(10)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent on Windows")
@pytest.mark.parametrize("keyboard", ["select", "thread"], ids=KEYBOARDS)
def test_ctrl_c_ends_a_client_whose_send_waits(bare_server, scripts, keyboard):
    me, peer, typist, _ = typing_into_a_full_connection(bare_server, scripts, keyboard)
    with peer:
        typist.wait_until_stuck(1.0)
        me.process.send_signal(signal.SIGINT)
        code, rest, stderr = me.finish()
    assert code == 0 and "Traceback" not in stderr
    assert rest[-1] == "* Bye."
    typist.thread.join(10)  # its next write found the pipe closed


# --- Bytes that are not UTF-8, typed or received ------------------------------------

# What the client sends for b"caf\xc3\xa9 \xff": "é" in UTF-8, then a byte that is not
# UTF-8. The select keyboard (Linux, macOS) reads UTF-8; the keyboard thread (Windows)
# reads the stream's encoding. Bytes that cannot be read become "\ufffd", never a crash.
TYPED_BYTES = b"typed caf\xc3\xa9 \xff end\n"


@pytest.mark.parametrize("keyboard", ["select", "thread"], ids=KEYBOARDS)
@pytest.mark.parametrize("environment, screen, thread_wire", [  # None: no such variable
    ({"LC_ALL": "C", "PYTHONIOENCODING": None}, "utf-8", "café \ufffd"),  # Python's UTF-8 mode
    ({"LC_ALL": "C", "PYTHONIOENCODING": None, "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
     "ascii", "caf\ufffd\ufffd \ufffd"),
    ({"PYTHONIOENCODING": "utf-8"}, "utf-8", "café \ufffd"),  # strict: it used to end typing
    ({"PYTHONIOENCODING": "ascii"}, "ascii", "caf\ufffd\ufffd \ufffd"),
], ids=["C-locale", "C-locale-ascii", "utf-8", "ascii"])
def test_bytes_that_are_not_utf8_become_replacement_characters(
        bare_server, scripts, keyboard, environment, screen, thread_wire):
    if sys.platform == "win32" and keyboard == "select":
        pytest.skip("select cannot watch a pipe on Windows")
    if sys.platform == "win32" and "LC_ALL" in environment:
        pytest.skip("Windows has no C locale: its encodings come from the code page")
    env = {name: value for name, value in script_env(CHATROOM_KEYBOARD=keyboard,
                                                     **environment).items() if value is not None}
    me = scripts("-m", "chatroom.client", *map(str, bare_server.getsockname()), env=env)
    peer, _ = bare_server.accept()
    with peer:
        peer.settimeout(10)
        peer.sendall(b"from the server caf\xc3\xa9 \xff end\n")
        me.wait_for("from the server")
        me.process.stdin.buffer.write(TYPED_BYTES)
        me.process.stdin.close()  # then the end of input: the client leaves
        expected = thread_wire if keyboard == "thread" else "café \ufffd"
        received = b""
        for _ in range(100):
            data = peer.recv(4096)
            if not data:
                break
            received += data
    code, _, stderr = me.finish()  # the server has closed too: the client exits at once
    assert received == f"typed {expected} end\n".encode()  # valid UTF-8 on the wire
    shown = [text.encode(screen, "replace").decode(screen)  # "?" where ascii has no letter
             for text in ("from the server café \ufffd end", f"<You> typed {expected} end")]
    assert [line for line in me.seen if not line.startswith("* ")] == shown
    assert (code, stderr) == (0, "")


# --- IPv6, and the addresses people type ---------------------------------------------


def has_ipv6_loopback():
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        return False
    return True


@pytest.fixture
def server6(events):
    """A ChatServer on the IPv6 loopback, ::1."""
    if not has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1)")
    with ChatServer("::1", 0, on_event=events.put) as chat:
        yield chat


@pytest.mark.parametrize("typed", ["::1 {port}", "[::1] {port}", "[::1]:{port}"])
def test_client_chats_over_ipv6(server6, scripts, typed):
    with LineClient(server6.address) as friend:
        friend.joined()
        me = scripts("-m", "chatroom.client", *typed.format(port=server6.address[1]).split())
        assert me.wait_for("* Welcome")[0] == (f"* Connected to ::1 port {server6.address[1]}. "
                                               "Leave with /quit, Ctrl-D or Ctrl-C.")
        friend.read_line()  # "* ::1#2 joined"
        me.type("hello over IPv6")
        assert friend.read_until("<::1#2> hello over IPv6")
        quit_cleanly(me)


@pytest.mark.parametrize("typed, message", [
    ("fe80::1", "fe80::1 is a link-local address: add the network interface after it, such as "
                "fe80::1%eth0 (Linux), %en0 (macOS) or %12 (Windows, see ipconfig)"),
    ("0.0.0.0", "0.0.0.0 is for a server, to listen on all its addresses; connect to one of "
                "them, such as 127.0.0.1 on the server's own machine"),
    ("[::]:5050", ":: is for a server, to listen on all its addresses; connect to one of "
                  "them, such as 127.0.0.1 on the server's own machine"),
    ("[::1]:5050 6000", "the port is given twice: python -m chatroom.client ::1 6000"),
    ("127.0.0.1:http", "the port must be a whole number from 1 to 65535, not 'http'"),
], ids=["link-local-without-interface", "IPv4-any", "IPv6-any", "two-ports", "URL-port"])
def test_addresses_the_client_cannot_use_get_one_line(typed, message):
    result = run_script("-m", "chatroom.client", *typed.split())
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"error: {message}\n")


@pytest.mark.skipif(not hasattr(socket, "if_nameindex"), reason="no interface list here")
def test_a_link_local_address_on_an_interface_this_machine_lacks():
    result = run_script("-m", "chatroom.client", "fe80::1%nosuch0", "5050")
    interfaces = ", ".join(name for _, name in socket.if_nameindex())
    assert (result.returncode, result.stderr) == (2, (
        "error: this machine has no network interface 'nosuch0' (in fe80::1%nosuch0); "
        f"its interfaces are: {interfaces}\n"))


# Two hosts on a virtual cable, as in test_lab_two_hosts.py, with link-local IPv6 addresses
# too, and names that host B finds in its own hosts file: ``ip netns exec`` reads
# /etc/netns/NAME/hosts in place of /etc/hosts.
HOST_A, HOST_B, LINK_A, LINK_B = "10.78.0.1", "10.78.0.2", "fe80::a", "fe80::b"
NAMES = "127.0.0.1 localhost\n::1 chat-v6\n127.0.0.1 chat-both\n::1 chat-both\n"


class Lab:
    """Hosts A and B, network namespaces joined by a veth cable; B has a hosts file."""

    def __init__(self):
        tag = os.getpid()
        self.a, self.b = f"chatclient-a-{tag}", f"chatclient-b-{tag}"
        self.cable_a, self.cable_b = f"cc{tag}a"[-15:], f"cc{tag}b"[-15:]
        self.names = Path("/etc/netns") / self.b

    def build(self):
        ip("link", "add", self.cable_a, "type", "veth", "peer", "name", self.cable_b)
        for host, cable, address, link_local in ((self.a, self.cable_a, HOST_A, LINK_A),
                                                 (self.b, self.cable_b, HOST_B, LINK_B)):
            ip("netns", "add", host)
            ip("link", "set", cable, "netns", host)
            # no link-local address of the kernel's own making: the client's source must be
            # fe80::b, which a busy machine's choice between two link-local ones may not give
            ip("-n", host, "link", "set", cable, "addrgenmode", "none")
            ip("-n", host, "addr", "add", f"{address}/24", "dev", cable)
            # nodad: usable at once, without the second of duplicate address detection
            ip("-n", host, "addr", "add", f"{link_local}/64", "dev", cable, "nodad")
            ip("-n", host, "link", "set", cable, "up")
            ip("-n", host, "link", "set", "lo", "up")
        self.names.mkdir(parents=True, exist_ok=True)
        (self.names / "hosts").write_text(NAMES)

    def remove(self):
        for host in (self.a, self.b):  # removing one removes its end of the cable
            subprocess.run(["ip", "netns", "del", host], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.cable_a], capture_output=True, timeout=30)
        shutil.rmtree(self.names, ignore_errors=True)
        try:
            self.names.parent.rmdir()  # /etc/netns, when nothing else is in it
        except OSError:
            pass

    def on(self, host, *arguments):
        """The command line of ``python ARGUMENTS`` on ``host``."""
        return ["netns", "exec", host, sys.executable, *arguments]

    def run(self, host, *arguments, timeout=30):
        return subprocess.run(["ip", *self.on(host, *arguments)], capture_output=True,
                              text=True, timeout=timeout, env=script_env(),
                              stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def lab():
    reason = why_no_namespaces() or (None if os.path.exists("/proc/net/if_inet6")
                                     else "IPv6 is turned off in this kernel")
    if reason:
        pytest.skip(reason)
    hosts = Lab()
    try:
        hosts.build()
    except OSError as problem:
        hosts.remove()
        pytest.skip(f"this machine does not allow network namespaces: {problem}")
    yield hosts
    hosts.remove()


@pytest.fixture
def on(lab, scripts):
    """on(host, *arguments) starts ``python ARGUMENTS`` on that host, in the background."""
    return lambda host, *arguments: scripts(*lab.on(host, *arguments), program="ip")


def joins(client, where):
    """The client connects to ``where``, is welcomed, and leaves with /quit."""
    assert client.wait_for("* Welcome")[0].startswith(f"* Connected to {where} port ")
    quit_cleanly(client)
    return True


def test_names_with_ipv6_addresses(lab, on):
    # chat-both is 127.0.0.1 and ::1, and the server listens on ::1 only: the refusal
    # at 127.0.0.1, tried first, moves on to ::1.
    server = on(lab.b, "-m", "chatroom.server", "::1", "0")
    port = str(server_port(server))
    assert joins(on(lab.b, "-m", "chatroom.client", "chat-v6", port), "chat-v6 (::1)")
    assert joins(on(lab.b, "-m", "chatroom.client", "chat-both", port), "chat-both (::1)")
    result = lab.run(lab.b, "-m", "chatroom.client", "localhost", port)  # 127.0.0.1 only
    assert (result.returncode, result.stderr.count("\n")) == (1, 1)
    assert result.stderr.startswith(f"error: connection refused by localhost port {port}: ")


def test_a_link_local_address_with_its_interface(lab, on):
    server = on(lab.a, "-m", "chatroom.server", "::", "0")
    port = str(server_port(server))
    assert joins(on(lab.b, "-m", "chatroom.client", f"{LINK_A}%{lab.cable_b}", port),
                 f"{LINK_A}%{lab.cable_b}")
    server.wait_for(f"{LINK_B} connected")  # from B, over the cable


def icmp_unreachable_sent(lab, host):
    """How many "destination unreachable" messages ``host`` has sent (/proc/net/snmp)."""
    snmp = lab.run(host, "-c", "print(open('/proc/net/snmp').read())").stdout.splitlines()
    names, values = [line.split() for line in snmp if line.startswith("Icmp:")][:2]
    return int(values[names.index("OutDestUnreachs")])


def set_kernel_option(host, option, value):
    """Write ``value`` to /proc/sys/OPTION in ``host``'s namespace, and only there."""
    ip("netns", "exec", host, "sh", "-c", f"echo {value} > /proc/sys/{option}")


def test_a_firewall_that_rejects_is_named_in_the_message(lab):
    # Host A rejects TCP to port 5050 as firewalld does: an ICMP "prohibited" answer,
    # which the client sees as EHOSTUNREACH, "No route to host". A routing rule of
    # type prohibit makes it without iptables: it must come before the rule for local
    # addresses, and A must route (forward) for the kernel to answer with ICMP.
    reject = ("pref", "10", "ipproto", "tcp", "dport", "5050", "prohibit")
    try:
        ip("-n", lab.a, "rule", "add", *reject)
    except OSError as problem:
        pytest.skip(f"this kernel or ip cannot choose a rule by port: {problem}")
    try:
        ip("-n", lab.a, "rule", "add", "pref", "100", "lookup", "local")
        ip("-n", lab.a, "rule", "del", "pref", "0")
        set_kernel_option(lab.a, "net/ipv4/ip_forward", 1)
        sent = icmp_unreachable_sent(lab, lab.a)
        started = time.monotonic()
        result = lab.run(lab.b, "-m", "chatroom.client", HOST_A, "5050")
        took = time.monotonic() - started
        assert icmp_unreachable_sent(lab, lab.a) > sent  # a real rejection, from host A
    finally:
        set_kernel_option(lab.a, "net/ipv4/ip_forward", 0)
        ip("-n", lab.a, "rule", "add", "pref", "0", "lookup", "local")
        ip("-n", lab.a, "rule", "del", "pref", "100")
        ip("-n", lab.a, "rule", "del", *reject)
    assert (result.returncode, result.stderr) == (1, (
        f"error: cannot reach {HOST_A} port 5050: no machine answers at that address, or a "
        "firewall on it rejects the connection. Check the address, and the firewall on the "
        "server's machine\n"))
    assert took < cli.CONNECT_TIMEOUT  # an answer, not the timeout of a dropping firewall


def test_ipv6_turned_off_on_the_client_machine(lab):
    host = f"chatclient-c-{os.getpid()}"  # a host of its own: turning IPv6 off loses addresses
    ip("netns", "add", host)
    try:
        ip("-n", host, "link", "set", "lo", "up")
        set_kernel_option(host, "net/ipv6/conf/all/disable_ipv6", 1)
        result = lab.run(host, "-m", "chatroom.client", "::1", "5050")
    finally:
        subprocess.run(["ip", "netns", "del", host], capture_output=True, timeout=30)
    assert (result.returncode, result.stderr) == (1, (
        "error: cannot connect to ::1 port 5050: this machine has no address to connect from "
        "(is IPv6 turned off here?). Use the server's IPv4 address\n"))
