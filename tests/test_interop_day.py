"""Interop day: ``python -m chatroom.interop HOST PORT`` and ``tests/grade.py CLASS --interop``.

The student's command is run for real against the kit's server (a subprocess),
against small broken servers made here (on loopback, in this process), against
a port that refuses, and in a blank copy. The instructor's command grades a
class of four real copies (three perfect, one blank) behind the grading walls,
and a class of four in which a client attacks the servers, a server gives a wrong
address and a client dies with two servers; the network between the sandboxes
(``Wires``) is checked on its own.
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


def test_interop_day_runs_every_sandbox_in_a_network_namespace_of_its_own(interop_day):
    if not isolation.namespaces_allowed():
        pytest.skip("this machine refuses namespaces: interop day shares its network")
    _, rows, _, ours = interop_day
    dana = [row for row in rows if row[0] == "dana"][0]
    reports = {cell for server, cell in zip(rows[0][1:], dana[1:]) if server != "carl"}
    assert len(reports) == 1, reports  # her sandbox's namespace, the same for every chat
    found = re.fullmatch(r"the client raised Spy net(\d+) outside(\d)", reports.pop())
    assert found, dana
    assert found.group(1) != ours, "the sandboxes ran in the grader's own network namespace"
    assert found.group(2) == "0", "a sandbox reached a port outside its network namespace"


def test_interop_day_leaves_nothing_of_the_students_running(interop_day):
    if not isolation.available():
        pytest.skip("the sandbox users exist only on Linux as root")
    assert isolation.leftovers() == []


ADA = """

_HELD = []


def chat(host, port, nick="carol", sources=(None, None), seconds=CHAT_SECONDS):
    # ada's client fills its folder with files of 10 MiB (the most a file may have), up to
    # 200 MiB, as if to fill the disk; connects to each server as each classmate (their
    # addresses, any loopback address) and as itself, ten times each, and floods every
    # connection it gets, to drain their flood control and take their places; it keeps them,
    # and reports, as if it raised, what it wrote and the addresses that reached the server
    # (with a lone surrogate and a long text on the answer channel, too)
    import os
    written = 0
    try:
        for number in range(20):
            with open("fill-%d" % number, "wb") as file:
                for _ in range(10):
                    file.write(bytes(1 << 20))
                    written += 1
    except OSError:
        pass
    for number in range(20):
        if os.path.exists("fill-%d" % number):
            os.remove("fill-%d" % number)
    reached = []
    victims = ["10.2.0.%d" % (4 * number + 2) for number in range(4)]
    for source in [sources[0]] + victims + ["127.0.0.%d" % number for number in (2, 10, 11, 12)]:
        for _ in range(10):
            sock = socket.socket()
            sock.settimeout(1)
            try:
                sock.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: bind any address
                sock.bind((source, 0))
                sock.connect((host, port))
                sock.sendall(b"".join(b"flood %d\\n" % number for number in range(300)))
            except OSError:
                sock.close()
                break
            _HELD.append(sock)
            reached.append(source)
    return {"problem": None, "done": [], "screens": [[], []], "closed": [False, False],
            "raised": ["Spy wrote %d MiB, reached " % written + " ".join(sorted(set(reached)))
                       + " \\udcff" + "x" * 10000, None]}
"""

ZOE = """

_chat = chat


def chat(host, port, *args, **kwargs):
    # zoe's client dies in its first two chats with a classmate's server (not the grader's)
    if host != "10.3.0.1":
        count = Path(os.environ["HOME"], "chats")
        chats = int(count.read_text()) if count.exists() else 0
        count.write_text(str(chats + 1))
        if chats < 2:
            os._exit(3)
    return _chat(host, port, *args, **kwargs)
"""


YAN = "the server did not start: its address gives no port (" + "1" + "0" * 30 + ")"


@pytest.fixture(scope="module")
def attacked_day(released_kits, tmp_path_factory):
    """Interop day, one client at a time (so in name order), for ada (her client attacks
    the servers), bob, yan (his server's address gives a port that is no port) and zoe (a
    name that is not UTF-8; her client's sandbox dies with her first two classmates'
    servers); (csv rows, finished run)."""
    if not isolation.namespaces_allowed():
        pytest.skip("this machine refuses namespaces: interop day shares its network")
    perfect, _ = released_kits
    group = tmp_path_factory.mktemp("attacked-class")
    zoe = os.fsdecode(b"zoe\xff")
    for name in ("ada", "bob", "yan", zoe):
        shutil.copytree(perfect, group / name, ignore=shutil.ignore_patterns(".git"))
    with open(group / "yan" / "chatroom" / "server.py", "a", encoding="utf-8") as wrong:
        wrong.write("\nChatServer.address = property(lambda self: ('127.0.0.1', 10 ** 30))\n")
    with open(group / "ada" / "chatroom" / "interop.py", "a", encoding="utf-8") as attack:
        attack.write(ADA)
    with open(group / zoe / "chatroom" / "interop.py", "a", encoding="utf-8") as dying:
        dying.write("\nimport os\nfrom pathlib import Path\n" + ZOE)
    out = tmp_path_factory.mktemp("attacked-out")
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "grade.py"), str(group),
                           "--interop", "--out", str(out), "--jobs", "1"], capture_output=True,
                          text=True, timeout=CLASS_TIMEOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
                          errors="replace")
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out / "interop.csv", newline="", encoding="utf-8") as file:
        return list(csv.reader(file)), done


def test_a_client_reaches_the_servers_only_as_itself_and_fills_only_its_folder(attacked_day):
    rows, _ = attacked_day
    assert rows[0][1:] == ["ada", "bob", "yan", "zoe?"]
    cells = {row[0]: dict(zip(rows[0][1:], row[1:])) for row in rows[1:]}
    # bob ran after ada, against the servers she flooded: as if she had not been there
    assert cells["bob"] == {"ada": "ok", "bob": "ok", "yan": YAN, "zoe?": "ok"}, cells["bob"]
    for server, cell in cells["ada"].items():
        if server == "yan":
            continue
        found = re.fullmatch(r"the client raised Spy wrote (\d+) MiB, reached (\S+) \?x+\.\.\.",
                             cell)
        assert found and len(cell) <= 300, cell
        assert found.group(2) == "10.2.0.2", cell  # her own address, and no other
        assert 60 <= int(found.group(1)) <= 64, cell  # her folder's room, not the disk's


def test_a_server_whose_address_is_wrong_loses_its_column_only(attacked_day):
    rows, done = attacked_day
    assert all(row[3] == YAN for row in rows[1:]), rows
    assert "Servers no client could use (1):" in done.stdout


def test_a_client_that_dies_with_two_servers_keeps_the_rest_of_its_row(attacked_day):
    rows, done = attacked_day
    zoe = dict(zip(rows[0][1:], [row for row in rows if row[0] == "zoe?"][0][1:]))
    # her row goes zoe?, ada, bob (yan's server does not run): her sandbox died with her own
    # server and ada's, and worked with the grader's server after each, so bob's was tried
    died = "client: Python stopped here (exit code 3)"
    assert zoe == {"zoe?": died, "ada": died, "bob": "ok", "yan": YAN}, zoe
    assert "Clients that worked nowhere (1):" in done.stdout  # ada


WIRED = '''
import subprocess, sys
sys.path[:0] = [GRADING, TESTS]
import interop_network, isolation

LISTEN = """
import socket, sys
listener = socket.create_server((sys.argv[1], 5050))
print(flush=True)
sock, peer = listener.accept()
sock.sendall(peer[0].encode())
"""
CONNECT = """
import socket, sys
sock = socket.socket()
sock.settimeout(2)
sock.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: bind any address
try:
    sock.bind((sys.argv[1], 0))
    sock.connect((sys.argv[2], 5050))
    print("reached", sock.recv(100).decode())
except OSError as error:
    print(type(error).__name__)
"""


def inside(holder, *command):
    return (["nsenter", "--net=/proc/%d/ns/net" % holder.pid, "--"] if holder else []) + [
        sys.executable, "-c", *command]


isolation.loopback_up()
wires = interop_network.Wires()
(server, there), (other, _) = wires.new("server", 0), wires.new("server", 1)
client, here = wires.new("client", 0)
for holder, host, role in ((server, there, "server"), (None, "10.3.0.1", "kit")):
    listening = subprocess.Popen(inside(holder, LISTEN, host), stdout=subprocess.PIPE, text=True)
    listening.stdout.readline()
    for name, source, at in (("a classmate's server", "0.0.0.0", other),
                             ("a client as the grader's client", "10.4.0.1", client),
                             ("a client", here, client)):
        reached = subprocess.run(inside(at, CONNECT, source, host), capture_output=True,
                                 text=True, timeout=30).stdout.strip()
        print(role, "from", name + ":", reached)
    listening.kill()
'''


def test_wires_let_a_client_in_as_itself_and_a_server_nowhere():
    """A server's namespace reaches no other server and not the grader's server; a client's
    reaches both, from its own address only."""
    if not isolation.namespaces_allowed():
        pytest.skip("this machine refuses namespaces: interop day shares its network")
    script = WIRED.replace("GRADING, TESTS", f"{str(ROOT / 'tests' / 'grading')!r}, "
                                             f"{str(ROOT / 'tests')!r}")
    done = subprocess.run(["unshare", "--net", "--", sys.executable, "-c", script],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.splitlines() == [
        "server from a classmate's server: OSError",
        "server from a client as the grader's client: OSError",
        "server from a client: reached 10.2.0.2",
        "kit from a classmate's server: OSError",
        "kit from a client as the grader's client: OSError",
        "kit from a client: reached 10.2.0.2",
    ], done.stdout + done.stderr
