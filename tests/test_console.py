"""The server's console and command line, as a person runs them: real processes, real pipes,
a real terminal (tmux), and a private network namespace for a server on every address.

A console that nobody reads (a pipe into ``less``, Ctrl-S in a terminal) must
not stop the chat, nor keep Ctrl-C or SIGTERM from ending the server; the
console says how many log lines it dropped meanwhile.
"""

import os
import queue
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from chatroom import cli
from chatroom.console import DROPPED, QUEUE_LINES
from chatroom.server import GOODBYE
from chat_client import LineClient
from conftest import ROOT, script_env, server_port
from test_lab_two_hosts import ip, why_no_namespaces
from test_terminal import PROMPT, terminal  # noqa: F401 (a fixture: a bash in tmux)

pytestmark = pytest.mark.timeout(60)

needs_signals = pytest.mark.skipif(sys.platform == "win32",
                                   reason="signals cannot be sent to a process on Windows")
needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None or sys.platform == "win32",
                                reason="the terminal tests need tmux (Linux or macOS)")

CHAT_LINES = 5000
STOP_WITHIN = 2.0  # seconds from Ctrl-C or SIGTERM to the exit: the goal
NOTICE = re.compile(DROPPED.replace("{:,}", "([0-9,]+)"))

# The server's own main(), with flood control off: the tests send thousands of
# lines from one client, which a person's 2 lines a second would take an hour to.
UNLIMITED_SERVER = """\
import os
import sys
from pathlib import Path

from chatroom.server import main

if os.environ.get("PID_FILE"):
    Path(os.environ["PID_FILE"]).write_text(str(os.getpid()))
sys.exit(main(sys.argv[1:] + ["--no-flood-control"]))
"""


@pytest.fixture
def unlimited_server(tmp_path):
    path = tmp_path / "unlimited_server.py"
    path.write_text(UNLIMITED_SERVER)
    return path


def chat(alice, bob, count, batch=100):
    """Alice sends ``count`` lines, ``batch`` at a time; Bob must get every one, in order.

    Bob reads each batch before the next is sent, as a person's client would: a
    reader that falls 256 KiB behind is dropped (lesson 5).
    """
    sent = [f"line {number} of {count}: " + ", ".join(["so much to say"] * 6)
            for number in range(count)]
    got = []
    for start in range(0, count, batch):
        for text in sent[start:start + batch]:
            alice.send(text)
        got += bob.read_until(f"<127.0.0.1> {sent[start:start + batch][-1]}", limit=batch + 10)
    assert [line.partition("> ")[2] for line in got if line.startswith("<")] == sent


def notices(lines):
    """The drop counts the console printed among ``lines``."""
    return [int(found.group(1).replace(",", "")) for found in map(NOTICE.search, lines) if found]


class UnreadServer:
    """The server with its output into a pipe that is read only for its port, then left
    alone until ``start_reading``: like ``python -m chatroom.server | less``."""

    def __init__(self, script):
        self.process = subprocess.Popen(
            [sys.executable, str(script), "127.0.0.1", "0"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=script_env(), cwd=ROOT)
        self.start = b""
        for _ in range(100):  # 10 s at most
            if b"Stop it with Ctrl-C." in self.start:
                break
            if select.select([self.process.stdout], [], [], 0.1)[0]:
                data = os.read(self.process.stdout.fileno(), 4096)
                if not data:  # it ended
                    break
                self.start += data
        self.lines = queue.Queue()
        self._reader = None
        found = re.search(rb" port (\d+)\.", self.start)
        if not found:
            self.close()
            raise AssertionError(f"the server did not start: {self.start!r}")
        self.port = int(found.group(1))

    def start_reading(self):
        """Read the pipe from now on, as ``less`` does when you scroll to the end."""
        def read():
            for line in self.process.stdout:
                self.lines.put(line.decode("utf-8", "replace").rstrip("\n"))
        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def wait_for(self, wanted, timeout=10.0, limit=20_000):
        seen = []
        for _ in range(limit):
            seen.append(self.lines.get(timeout=timeout))
            if wanted in seen[-1]:
                return seen
        raise AssertionError(f"no {wanted!r} among {limit} lines")

    def stop(self, signal_number):
        """Send the signal; return (exit code, seconds it took to exit)."""
        began = time.monotonic()
        self.process.send_signal(signal_number)
        code = self.process.wait(10)
        return code, time.monotonic() - began

    def rest(self):
        """The lines still in the pipe after the exit, and stderr."""
        if self._reader is None:
            self.start_reading()
        self._reader.join(10)
        lines = []
        while not self.lines.empty():
            lines.append(self.lines.get())
        return lines, self.process.stderr.read().decode("utf-8", "replace")

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process.stdout.close()
        self.process.stderr.close()


@pytest.fixture
def unread_server(unlimited_server):
    server = UnreadServer(unlimited_server)
    yield server
    server.close()


def joined_pair(port):
    alice, bob = LineClient(("127.0.0.1", port)), LineClient(("127.0.0.1", port))
    alice.joined(), bob.joined()
    return alice, bob


# --- A pipe that nobody reads -----------------------------------------------------------

@needs_signals
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_pipe_nobody_reads_stops_neither_the_chat_nor_the_server(unread_server, signal_name):
    alice, bob = joined_pair(unread_server.port)
    with alice, bob:
        chat(alice, bob, CHAT_LINES)  # far more than a pipe and the console's queue hold
        code, took = unread_server.stop(getattr(signal, signal_name))
        assert bob.read_to_end()[-1] == GOODBYE
    assert code == 0
    assert took < STOP_WITHIN, f"{signal_name} ended the server after {took:.2f} s"
    output, stderr = unread_server.rest()
    assert stderr == ""
    # The console was still blocked at the exit: its last lines never made it.
    assert not any("Server stopped." in line for line in output)


@needs_signals
def test_the_console_says_how_many_lines_it_dropped_once_it_is_read(unread_server):
    alice, bob = joined_pair(unread_server.port)
    with alice, bob:
        chat(alice, bob, CHAT_LINES)
        unread_server.start_reading()
        before = unread_server.wait_for("log lines dropped while the console was blocked")
        code, _ = unread_server.stop(signal.SIGINT)
    assert code == 0
    after, stderr = unread_server.rest()
    assert stderr == "" and after[-1].endswith("Server stopped.")
    # Every log line of the chat was either printed or counted, none silently lost.
    chat_lines = [line for line in before + after if "> line " in line]
    connected = [line for line in before + after if line.endswith(" connected")]
    dropped = sum(notices(before + after))
    assert dropped > 0
    assert len(chat_lines) + len(connected) + dropped == CHAT_LINES + 2
    assert re.search(r"… \d{1,3}(,\d{3})* log lines dropped while the console was blocked$",
                     before[-1])


# --- A terminal paused with Ctrl-S ------------------------------------------------------

class ServerInTerminal:
    """The unlimited server, typed into the terminal; its pid and exit code go to files."""

    def __init__(self, terminal, script, tmp_path):
        self.terminal = terminal
        self.pid_file, self.exit_file = tmp_path / "pid", tmp_path / "exit-code"
        terminal.type(f"PYTHONPATH={shlex.quote(str(ROOT))} "
                      f"PID_FILE={shlex.quote(str(self.pid_file))} "
                      f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} 127.0.0.1 0; "
                      f"echo $? > {shlex.quote(str(self.exit_file))}")
        terminal.press("Enter")
        screen = terminal.wait_for("Stop it with Ctrl-C.")
        self.port = int(re.search(r"listening on 127\.0\.0\.1 port (\d+)\.", screen).group(1))
        self.pid = int(self.pid_file.read_text())

    def exit_code_within(self, seconds=10.0):
        """(exit code, seconds until it came), read from the file the shell writes."""
        began = time.monotonic()
        pause = threading.Event()
        for _ in range(int(seconds / 0.01)):  # bounded in count, and so in time
            if self.exit_file.exists() and self.exit_file.read_text().strip():
                return int(self.exit_file.read_text()), time.monotonic() - began
            pause.wait(0.01)
        raise AssertionError(f"the server did not exit within {seconds} s")


@needs_tmux
def test_ctrl_s_in_a_terminal_does_not_stop_the_chat(terminal, unlimited_server, tmp_path):
    server = ServerInTerminal(terminal, unlimited_server, tmp_path)
    terminal.press("C-s")  # the terminal stops taking output: the server's writes wait
    alice, bob = joined_pair(server.port)
    with alice, bob:
        chat(alice, bob, 3 * QUEUE_LINES // 2)
        terminal.press("C-q")
        screen = terminal.wait_for("log lines dropped while the console was blocked")
        assert sum(notices(screen.splitlines())) > 0
        terminal.press("C-c")
        code, took = server.exit_code_within()
    assert code == 0 and took < STOP_WITHIN, (code, took)
    terminal.wait_for("Server stopped.")


@needs_tmux
@pytest.mark.parametrize("how", ["C-c", "SIGTERM"])
def test_the_server_stops_while_its_terminal_is_paused(terminal, unlimited_server, tmp_path,
                                                         how):
    server = ServerInTerminal(terminal, unlimited_server, tmp_path)
    terminal.press("C-s")
    alice, bob = joined_pair(server.port)
    with alice, bob:
        chat(alice, bob, 20)
        if how == "C-c":  # Linux's terminal also starts output again at Ctrl-C; macOS's not
            terminal.press("C-c")
        else:
            os.kill(server.pid, signal.SIGTERM)
        code, took = server.exit_code_within()
        assert bob.read_to_end()[-1] == GOODBYE
    assert code == 0 and took < STOP_WITHIN, (code, took)
    terminal.press("C-q")
    if how == "SIGTERM":  # the terminal stayed paused to the end: the last log lines were let go
        screen = terminal.wait_for(PROMPT, count=2)  # the shell's prompt, held back until now
        assert "Server stopped." not in screen


# --- Options ----------------------------------------------------------------------------

def test_no_chat_log_keeps_what_people_say_off_the_console(scripts):
    server = scripts("-m", "chatroom.server", "127.0.0.1", "0", "--no-chat-log")
    alice, bob = joined_pair(server_port(server))
    with alice, bob:
        alice.send("my secret plan")
        bob.read_until("<127.0.0.1> my secret plan")
    # The console prints in order: a line logged before the departures would show first.
    server.wait_for("disconnected")
    server.wait_for("disconnected")
    assert any(line.endswith("127.0.0.1 connected") for line in server.seen)
    assert not any("secret" in line for line in server.seen), server.seen


def test_max_per_address_is_an_option(scripts):
    server = scripts("-m", "chatroom.server", "127.0.0.1", "0", "--max-per-address", "2")
    port = server_port(server)
    alice, bob = joined_pair(port)
    with alice, bob, LineClient(("127.0.0.1", port)) as third:
        assert third.read_to_end() == [
            "* Sorry, 2 people are connected from your address (127.0.0.1) already. "
            "Try again later."]


def test_the_default_address_is_every_one_and_0000_stays_ipv4():
    assert cli.server_arguments(["0.0.0.0"]).host == "0.0.0.0"
    assert cli.server_arguments(["::"]).host == "::"
    default = cli.server_arguments([]).host
    assert default == ("::" if socket.has_dualstack_ipv6() else "0.0.0.0")
    assert cli.server_arguments(["6000"]).host == default


# --- IPv4 and IPv6 on one socket, in a private network namespace ------------------------

@pytest.fixture
def private_namespace():
    """A network namespace with only its loopback, removed afterwards: a server on every
    address in it is reachable from nowhere else."""
    reason = why_no_namespaces()
    if reason:
        pytest.skip(reason)
    name = f"console-test-{os.getpid()}"

    def remove():
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)

    try:
        ip("netns", "add", name)
        ip("-n", name, "link", "set", "lo", "up")
    except OSError as problem:
        remove()
        pytest.skip(f"this machine does not allow network namespaces: {problem}")
    loopback = subprocess.run(["ip", "-n", name, "-6", "addr", "show", "dev", "lo"],
                              capture_output=True, text=True, timeout=30).stdout
    if "::1/128" not in loopback:
        remove()
        pytest.skip("IPv6 is turned off here: no ::1")
    yield name
    remove()


@pytest.mark.skipif(not socket.has_dualstack_ipv6(),
                    reason="this system cannot take IPv4 and IPv6 on one socket")
def test_by_default_ipv4_and_ipv6_clients_chat_together(scripts, private_namespace):
    def run(*arguments):
        return scripts("netns", "exec", private_namespace, sys.executable, *arguments,
                       program="ip")

    server = run("-m", "chatroom.server", "0")  # no address: the default
    port = str(server_port(server))
    assert server.seen[-1].endswith(f"listening on :: port {port}. Stop it with Ctrl-C.")
    server.wait_for(f"From this machine:    python -m chatroom.client 127.0.0.1 {port}")
    server.wait_for("IPv6 clients can connect too")
    over_ipv6 = run("-m", "chatroom.client", "::1", port)
    over_ipv6.wait_for("* Welcome to the chat room, ::1!")
    over_ipv4 = run("-m", "chatroom.client", "127.0.0.1", port)
    over_ipv4.wait_for("* Welcome to the chat room, 127.0.0.1!")
    over_ipv6.wait_for("* 127.0.0.1 joined")

    over_ipv4.type("hello over IPv4")
    over_ipv6.wait_for("<127.0.0.1> hello over IPv4")
    over_ipv6.type("hello over IPv6")
    over_ipv4.wait_for("<::1> hello over IPv6")
    server.wait_for("<::1> hello over IPv6")
