"""The interactive client in a real terminal: tmux types the keys and reads the screen.

Each test starts a private tmux server (its own socket name) running a plain
bash, types the client's command into it as a person would, and reads the
screen with capture-pane, polling with a deadline. The other person in the
room is a LineClient in this process. Skipped, saying why, without tmux.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chat_client import LineClient
from conftest import ROOT, server_port

PROMPT = "lab> "
WAIT_SECONDS = 10.0

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None or sys.platform == "win32",
    reason="the terminal tests need tmux (Linux or macOS)")


class Terminal:
    """A bash in a detached tmux session, 100 columns by 30 rows."""

    def __init__(self, name):
        self.socket_name = name
        env = dict(os.environ, TERM="xterm", LANG="C.UTF-8", HISTFILE=os.devnull)
        self._tmux("new-session", "-d", "-x", "100", "-y", "30", "-s", "lab",
                   "bash --norc --noprofile", env=env)
        self.socket_path = self._tmux("display-message", "-p", "#{socket_path}").stdout.strip()

    def start_shell(self):
        self.type("PS1='la''b> '")  # split, so that the typed command is not the prompt
        self.press("Enter")
        self.wait_for(PROMPT)

    def _tmux(self, *arguments, env=None):
        return subprocess.run(["tmux", "-L", self.socket_name, "-f", os.devnull, *arguments],
                              capture_output=True, text=True, timeout=10, env=env, check=True)

    def type(self, text):
        """Type ``text`` literally, without pressing Enter."""
        self._tmux("send-keys", "-t", "lab", "-l", text)

    def press(self, *keys):
        """Press keys by tmux's names: "Enter", "C-c", "C-d"."""
        self._tmux("send-keys", "-t", "lab", *keys)

    def screen(self):
        return self._tmux("capture-pane", "-t", "lab", "-p", "-J").stdout

    def wait_for(self, text, count=1):
        """The screen, once ``text`` appears on it ``count`` times; fails after WAIT_SECONDS."""
        pause = threading.Event()
        for _ in range(int(WAIT_SECONDS / 0.05)):  # bounded in count, and so in time
            screen = self.screen()
            if screen.count(text) >= count:
                return screen
            pause.wait(0.05)
        raise AssertionError(f"{text!r} never showed on the screen:\n{screen}")

    def close(self):
        subprocess.run(["tmux", "-L", self.socket_name, "kill-server"],
                       capture_output=True, timeout=10)
        if self.socket_path:  # tmux leaves its socket file behind
            Path(self.socket_path).unlink(missing_ok=True)


@pytest.fixture
def terminal(request):
    name = f"chatroom-test-{os.getpid()}-{abs(hash(request.node.nodeid)) % 10**8}"
    lab = Terminal(name)
    try:
        lab.start_shell()
        yield lab
    finally:
        lab.close()


@pytest.fixture
def chat_server(scripts):
    server = scripts("-m", "chatroom.server", "127.0.0.1", "0")
    return ("127.0.0.1", server_port(server))


def start_client(terminal, address, tmp_path, keyboard):
    """Type the client's command, between two snapshots of the terminal's settings."""
    client = (f"CHATROOM_KEYBOARD={keyboard} PYTHONPATH={shlex.quote(str(ROOT))} "
              f"{shlex.quote(sys.executable)} -m chatroom.client {address[0]} {address[1]}")
    before, after = tmp_path / "stty-before", tmp_path / "stty-after"
    terminal.type(f"stty -g > {before}; {client}; echo EXIT=$?; stty -g > {after}")
    terminal.press("Enter")
    terminal.wait_for("* Welcome to the chat room")
    return before, after


def assert_left_cleanly(terminal, before, after):
    terminal.wait_for("EXIT=0")
    terminal.wait_for(PROMPT, count=2)  # the prompt is back, after the snapshot
    assert before.read_text() == after.read_text(), "the client left the terminal changed"


def someone_joins(terminal, address):
    """Bob enters the room; his LineClient, once the terminal has shown him coming."""
    bob = LineClient(address)
    bob.joined()
    terminal.wait_for("* 127.0.0.1#2 joined")
    return bob


KEYBOARDS = pytest.mark.parametrize("keyboard", ["select", "thread"],
                                    ids=["select-keyboard", "windows-keyboard-thread"])


@KEYBOARDS
def test_typing_chatting_and_ctrl_d(terminal, chat_server, tmp_path, keyboard):
    before, after = start_client(terminal, chat_server, tmp_path, keyboard)
    with someone_joins(terminal, chat_server) as bob:

        terminal.type("hello from the terminal ☕")
        terminal.press("Enter")
        terminal.wait_for("<You> hello from the terminal ☕")
        bob.read_until(lambda line: line.endswith("> hello from the terminal ☕"))

        bob.send("hi, terminal")
        terminal.wait_for("> hi, terminal")

        terminal.press("C-d")
        assert_left_cleanly(terminal, before, after)
        bob.read_until("* 127.0.0.1 left")


@KEYBOARDS
def test_a_line_arriving_while_typing_leaves_the_typed_text_intact(
        terminal, chat_server, tmp_path, keyboard):
    """The documented behaviour (README, lesson 9): the terminal keeps the typed text.

    The arriving line is printed where the cursor is, after the half-typed
    text; what was typed is not lost, and Enter sends all of it.
    """
    before, after = start_client(terminal, chat_server, tmp_path, keyboard)
    with someone_joins(terminal, chat_server) as bob:
        terminal.type("half a li")
        terminal.wait_for("half a li")
        bob.send("a line arrives")
        screen = terminal.wait_for("> a line arrives")
        assert re.search(r"half a li<127\.0\.0\.1(#\d+)?> a line arrives", screen), screen  # at the cursor
        terminal.type("ne, then the rest")
        terminal.press("Enter")
        bob.read_until(lambda line: line.endswith("> half a line, then the rest"))
        terminal.wait_for("<You> half a line, then the rest")
        terminal.type("/quit")
        terminal.press("Enter")
        assert_left_cleanly(terminal, before, after)


@KEYBOARDS
def test_ctrl_c_leaves_cleanly(terminal, chat_server, tmp_path, keyboard):
    before, after = start_client(terminal, chat_server, tmp_path, keyboard)
    terminal.type("typed but never sent")
    terminal.press("C-c")
    terminal.wait_for("* Bye.")
    assert_left_cleanly(terminal, before, after)


def test_a_row_cannot_be_forged_at_80_columns(terminal, chat_server, tmp_path):
    """Mallory fills a row with 70 columns of words, or of wide characters, so that the
    terminal would start its next row with "<alice> ..." or "* alice left". The client
    wraps lines itself and starts every further row of a line with blanks."""
    terminal._tmux("resize-window", "-t", "lab", "-x", "80", "-y", "30")
    before, after = start_client(terminal, chat_server, tmp_path, "select")
    with someone_joins(terminal, chat_server) as mallory:
        mallory.send("/nick mallory")
        terminal.wait_for("is now mallory")
        forged = ["word " * 14 + "<alice> bob, please send the report to mallory instead, thanks",
                  "\u3002" * 35 + "* alice left"]
        for line in forged:
            mallory.send(line)
        terminal.wait_for("* alice left")
        rows = terminal._tmux("capture-pane", "-t", "lab", "-p").stdout.splitlines()
        assert not [row for row in rows if row.startswith(("<alice>", "* alice left"))], rows
        shown = [row for row in rows if "alice" in row and "mallory>" not in row]
        assert shown and all(row.startswith("  ") for row in shown), rows
        assert all(len(row) <= 80 for row in rows)
        terminal.type("/quit")
        terminal.press("Enter")
        assert_left_cleanly(terminal, before, after)


def test_the_kits_client_is_not_pushed_out_by_a_reconnecting_flood(terminal, chat_server,
                                                                   tmp_path):
    """Ten connections from one address churn, each with a fresh burst (before: the kit's
    client in an 80x24 terminal was dropped about 8 s in). Flood control is the
    address's, so the client keeps up and stays in the room."""
    from test_abuse import reconnect_and_flood, second_loopback_address
    terminal._tmux("resize-window", "-t", "lab", "-x", "80", "-y", "24")
    before, after = start_client(terminal, chat_server, tmp_path, "select")
    until = time.monotonic() + 4
    floods = [threading.Thread(target=reconnect_and_flood,
                               args=(chat_server, second_loopback_address(), 10, until))
              for _ in range(10)]
    for flood in floods:
        flood.start()
    for flood in floods:
        flood.join(20)
    with LineClient(chat_server) as bob:
        bob.joined()
        bob.send("still here?")
        terminal.wait_for("> still here?")
    assert "closed the connection" not in terminal.screen()
    terminal.type("/quit")
    terminal.press("Enter")
    terminal.wait_for("EXIT=0")  # the flood scrolls the first prompt away: no count of two
    for _ in range(100):  # the shell writes the snapshot right after EXIT=0
        if after.exists() and after.read_text().strip():
            break
        threading.Event().wait(0.05)
    assert before.read_text() == after.read_text(), "the client left the terminal changed"
