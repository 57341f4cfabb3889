"""Interoperability with the article's own client and server, and with netcat.

The article's two scripts are cut out of its text at test time (the text is not
part of this repository; the tests skip without it) and run as they are. They are
Python 3 (print(), _thread, b"" literals) and run unchanged but for these adaptations:
- the server gets one added line after ``server.listen(10)`` that prints its port: it is
  started on port 0 (never a fixed port in tests) and the original prints nothing
  until a client connects, so the test would not know when or where to connect;
- both run with ``python -u`` so their print()s reach our pipe at once;
- both are killed at the end: neither can stop by itself (the article's client loops
  on end of input, and its server's thread spins after a disconnect).
"""

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from chat_client import chat_lines
from conftest import ROOT

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(sys.platform == "win32",
                                 reason="the article's client selects on stdin: POSIX only")]

LISTENING = "adapted for the tests: listening on port"
ARTICLE_PATH = Path("shared", "reference", "chat-room-article.txt")


def find_article():
    """The article's text: $CHATROOM_ARTICLE, or ../shared/reference/ beside the repository
    (or beside any folder above it, for a clone made elsewhere); None if it is nowhere."""
    if os.environ.get("CHATROOM_ARTICLE"):
        return Path(os.environ["CHATROOM_ARTICLE"])
    for folder in ROOT.parents:
        if (folder / ARTICLE_PATH).is_file():
            return folder / ARTICLE_PATH
    return None


def article_scripts():
    """{"server.py": code, "client.py": code}, from the code blocks of the article.

    Code blocks sit between lines of exactly ten spaces; a block belongs to the
    script whose name last appeared alone on a line. Command-line examples are skipped.
    """
    article = find_article()
    if article is None or not article.is_file():
        pytest.skip(f"the article's text is not part of the repository and was not found at "
                    f"../{ARTICLE_PATH.as_posix()}; set CHATROOM_ARTICLE to its path")
    scripts, current, in_block = {"server.py": [], "client.py": []}, None, False
    for line in article.read_text(encoding="utf-8").splitlines():
        if re.fullmatch(r" {10}", line):
            in_block = not in_block
        elif in_block and current and not line.startswith("python3 "):
            scripts[current].append(line)
        elif not in_block and line.strip() in scripts:
            current = line.strip()
    return {name: "\n".join(lines) + "\n" for name, lines in scripts.items()}


@pytest.fixture
def article(tmp_path):
    """The folder the article's server.py and client.py were written to."""
    scripts = article_scripts()
    listen = "server.listen(10)\n"
    assert listen in scripts["server.py"]
    scripts["server.py"] = scripts["server.py"].replace(
        listen, listen + f"print({LISTENING!r}, server.getsockname()[1], flush=True)\n")
    for name, code in scripts.items():
        compile(code, name, "exec")  # the extraction gave whole, valid Python 3
        (tmp_path / name).write_text(code, encoding="utf-8")
    return tmp_path


def test_extracted_article_code_is_the_one_we_know(article):
    server, client = (article / "server.py").read_text(), (article / "client.py").read_text()
    assert "def broadcast(message, connection):" in server
    assert "_thread.start_new_thread(clientthread, (conn, addr))" in server
    assert "select.select(" in client and "sys.stdin.readline()" in client


def test_article_client_against_our_server(article, server, connect, scripts):
    friend = connect()
    theirs = scripts("-u", str(article / "client.py"), "127.0.0.1", str(server.address[1]))
    theirs.wait_for("* Welcome to the chat room")
    friend.read_line()  # "* 127.0.0.1 joined"
    theirs.type("hello from the article")
    got = chat_lines(friend.read_until(lambda line: line.endswith("> hello from the article")))
    assert [line.partition("> ")[2] for line in got] == ["hello from the article"]
    friend.send("hello article")
    theirs.wait_for("> hello article")
    theirs.kill()


def test_our_clients_against_the_article_server(article, scripts):
    server = scripts("-u", str(article / "server.py"), "127.0.0.1", "0")
    port = int(server.wait_for(LISTENING)[-1].split()[-1])
    alice = scripts("-m", "chatroom.client", "127.0.0.1", str(port))
    bob = scripts("-m", "chatroom.client", "127.0.0.1", str(port))
    alice.wait_for("Welcome to this chatroom!")  # no newline: shown after a quiet moment
    bob.wait_for("Welcome to this chatroom!")
    server.wait_for("connected")
    server.wait_for("connected")
    alice.type("hi bob")
    bob.wait_for("> hi bob")
    bob.type("hi alice")
    alice.wait_for("> hi alice")
    assert "<You> hi bob" in alice.seen


@pytest.mark.skipif(not shutil.which("nc"), reason="needs nc (netcat-openbsd)")
def test_netcat_is_a_plain_line_client(server, connect, scripts):
    friend = connect()
    netcat = scripts("127.0.0.1", str(server.address[1]), program=shutil.which("nc"))
    netcat.wait_for("* Welcome to the chat room")
    friend.read_line()  # "* 127.0.0.1 joined"
    netcat.type("plain text from nc")
    assert friend.read_until(lambda line: line.endswith("> plain text from nc"))
    friend.send("hello nc")
    netcat.wait_for("> hello nc")
    netcat.type("/quit")
    assert netcat.wait_for("* Bye!")
