"""Interop day: ``python -m chatroom.interop HOST PORT`` and ``tests/grade.py CLASS --interop``.

The student's command is run for real against the kit's server (a subprocess),
against small broken servers made here (on loopback, in this process), against
a port that refuses, and in a blank copy. The instructor's command grades a
class of three real copies (two perfect, one blank) behind the grading walls.
(tests/test_interop.py is about the article's scripts, not this.)
"""

import csv
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest

import isolation
from chatroom import interop
from chatroom.defences import DefendedServer
from chatroom.server import ChatServer
from conftest import ROOT, run_script, script_env, server_port

CLASS_TIMEOUT = 120


class NoNickServer(ChatServer):
    """Takes /nick without a word, and keeps the old name."""

    def command(self, member, line):
        return True if line.lower().startswith("/nick") else super().command(member, line)


class NoRelayServer(ChatServer):
    """Welcomes, answers commands, and passes nothing on to the others."""

    def broadcast_lines(self, texts, sender=None):
        pass


def check(server_class):
    """Run ``python -m chatroom.interop`` against a ``server_class`` on loopback."""
    with server_class(on_event=lambda event: None) as server:
        return run_script("-m", "chatroom.interop", *map(str, server.address))


def test_everything_works_with_the_kits_server(scripts):
    server = scripts("-m", "chatroom.server", "127.0.0.1", "0")
    done = run_script("-m", "chatroom.interop", "127.0.0.1", str(server_port(server)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "Your first client joined: the server welcomed it as 127.0.0.1.",
        "Your second client joined: the server welcomed it as 127.0.0.1#2.",
        "Lines go from the first client to the second: yes.",
        "Lines go from the second client to the first: yes.",
        "/nick: the second client saw <carol> after /nick carol: yes.",
        "/quit: both clients got the goodbye (* Bye!), and the server closed their "
        "connections: yes.",
    ]


def test_a_server_that_drops_nick_is_told(no_leftovers):
    done = check(NoNickServer)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Lines go from the first client to the second: yes." in done.stdout
    assert ("/nick: the second client did not see <carol> after /nick carol; it saw "
            "<127.0.0.1> a line after /nick.") in done.stdout
    assert "Traceback" not in done.stderr


def test_a_server_that_never_relays_is_told():
    done = check(NoRelayServer)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "Lines go from the first client to the second: no (<127.0.0.1> hello from the first " \
           "client did not come within 2 s)." in lines
    assert "/nick: not checked, as lines do not reach the second client." in lines
    assert lines[-1].startswith("/quit: both clients got the goodbye"), lines


def test_the_verdict_names_what_failed_first():
    with NoNickServer(on_event=lambda event: None) as server:
        record = interop.chat(*server.address)
    assert interop.verdict(record)[0] == "/nick not seen"
    with DefendedServer(on_event=lambda event: None) as server:
        record = interop.chat(*server.address, nick="dave")
    outcome, sentences = interop.verdict(record)
    assert outcome == "ok", sentences
    assert "/nick: the second client saw <dave> after /nick dave: yes." in sentences


def test_a_refused_port_or_wrong_arguments_say_one_line():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]  # closed below: nothing listens there then
    done = run_script("-m", "chatroom.interop", "127.0.0.1", str(port))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: connection refused by 127.0.0.1 port")
    assert len(done.stderr.splitlines()) == 1, done.stderr
    for arguments in (["127.0.0.1"], ["127.0.0.1", "http"]):
        done = run_script("-m", "chatroom.interop", *arguments)
        assert done.returncode == 2
        assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: "), done.stderr


def test_a_silent_server_says_one_line():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts; it says nothing
        done = run_script("-m", "chatroom.interop", "127.0.0.1", str(silent.getsockname()[1]))
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["Your first client got no welcome within 3 s."]


def test_a_blank_copy_names_the_missing_piece(released_kits):
    _, blank = released_kits
    done = subprocess.run([sys.executable, "-m", "chatroom.interop", "127.0.0.1", "5050"],
                          capture_output=True, text=True, timeout=30, cwd=blank,
                          env=script_env(PYTHONPATH=str(blank)), stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: exercise 1 (lesson 1) is not done yet: write parse_port in chatroom/cli.py, "
        "then run the check at the end of lesson 1"]


SPY = """

def chat(host, port, nick="carol", sources=(None, None), seconds=CHAT_SECONDS):
    # dana's client reports, as if it raised, its network namespace and whether it
    # reaches a port that the test listens on, outside
    import os
    namespace = "".join(filter(str.isdigit, os.readlink("/proc/self/ns/net")))
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
        reached = 1
    except OSError:
        reached = 0
    return {{"problem": None, "done": [], "screens": [[], []], "closed": [False, False],
            "raised": [f"Spy net{{namespace}} outside{{reached}}", None]}}
"""


@pytest.fixture(scope="module")
def interop_day(released_kits, tmp_path_factory):
    """A class of four through interop day: two perfect copies, a blank one, and a perfect
    one whose client reports where it runs; (out, csv rows, finished run, our namespace)."""
    perfect, blank = released_kits
    group = tmp_path_factory.mktemp("interop-class")
    for name, kit in (("alice", perfect), ("bob", perfect), ("carl", blank), ("dana", perfect)):
        shutil.copytree(kit, group / name, ignore=shutil.ignore_patterns(".git"))
    out = tmp_path_factory.mktemp("interop-out")
    with socket.create_server(("127.0.0.1", 0)) as outside:  # the kernel accepts for it
        with open(group / "dana" / "chatroom" / "interop.py", "a", encoding="utf-8") as spy:
            spy.write(SPY.format(port=outside.getsockname()[1]))
        done = subprocess.run([sys.executable, str(ROOT / "tests" / "grade.py"), str(group),
                               "--interop", "--out", str(out)], capture_output=True, text=True,
                              timeout=CLASS_TIMEOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out / "interop.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    ours = "".join(filter(str.isdigit, os.readlink("/proc/self/ns/net"))) \
        if os.path.exists("/proc/self/ns/net") else None
    return out, rows, done, ours


def test_interop_day_gives_the_right_matrix(interop_day):
    _, rows, _, _ = interop_day
    assert rows[0][1:] == ["alice", "bob", "carl", "dana"]
    cells = {row[0]: dict(zip(rows[0][1:], row[1:])) for row in rows[1:]}
    assert list(cells) == ["alice", "bob", "carl", "dana"]
    for client in ("alice", "bob"):
        assert cells[client]["alice"] == cells[client]["bob"] == cells[client]["dana"] == "ok", \
            cells[client]
        assert cells[client]["carl"].startswith("server: exercise 1 (lesson 1) is not done yet"), \
            cells[client]
    assert all(cell.startswith("client: exercise 1 (lesson 1) is not done yet")
               for cell in cells["carl"].values()), cells["carl"]


def test_interop_day_writes_the_picture_and_a_summary(interop_day):
    out, _, done, _ = interop_day
    assert (out / "interop.png").read_bytes().startswith(b"\x89PNG")
    assert "6 of 16 pairs worked." in done.stdout
    lines = done.stdout.splitlines()
    assert lines[lines.index("Servers no client could use (1):") + 1].startswith(
        "  carl: server: exercise 1 (lesson 1) is not done yet"), lines
    clients = lines[lines.index("Clients that worked nowhere (2):") + 1:]
    assert clients[0].startswith("  carl: client: exercise 1 (lesson 1) is not done yet"), lines
    assert clients[1].startswith("  dana: the client raised Spy net"), lines


def test_interop_day_runs_everyone_in_one_network_namespace_of_its_own(interop_day):
    if not isolation.namespaces_allowed():
        pytest.skip("this machine refuses namespaces: interop day shares its network")
    _, rows, _, ours = interop_day
    dana = [row for row in rows if row[0] == "dana"][0]
    reports = {cell for server, cell in zip(rows[0][1:], dana[1:]) if server != "carl"}
    assert len(reports) == 1, reports  # one namespace, the same for every chat
    found = re.fullmatch(r"the client raised Spy net(\d+) outside(\d)", reports.pop())
    assert found, dana
    assert found.group(1) != ours, "the sandboxes ran in the grader's own network namespace"
    assert found.group(2) == "0", "a sandbox reached a port outside its network namespace"


def test_interop_day_leaves_nothing_of_the_students_running(interop_day):
    if not isolation.available():
        pytest.skip("the sandbox users exist only on Linux as root")
    assert isolation.leftovers() == []
