"""Shared fixtures: a running ChatServer, line clients, and scripts run as subprocesses."""

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chatroom.server import ChatServer
from chat_client import LineClient

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_TIMEOUT = 30.0
RELEASE_TIMEOUT = 300


# The files that take longest, longest first, so that the workers of pytest-xdist end together
# (pyproject's --no-loadscope-reorder keeps this order; xdist would start with the files that
# hold the most tests, the lessons). Measured with --durations=0 on 2 cores: 127 s down to 34 s.
LONGEST_FIRST = ("test_grading.py", "test_gradescope.py", "test_interop_day.py", "test_release.py",
                 "test_cheating.py", "test_class_reports.py", "test_blank_lessons.py",
                 "test_hostile_wire.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.nodeid.split("::")[0].rsplit("/", 1)[-1]
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # a stable sort: each file keeps its own order


def streams(cell):
    """{"stdout": text, "stderr": text} of a notebook cell's outputs, each stream's pieces
    joined: the kernel flushes on a timer, so one line may come in several outputs."""
    joined = {}
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            joined[output.get("name")] = joined.get(output.get("name"), "") + output.get("text", "")
    return joined


def release(target, *options):
    """Write the students' copy of the kit into ``target`` with tests/release.py
    (``--with-solutions``: with the answers in place); ``target``."""
    subprocess.run([sys.executable, str(ROOT / "tests" / "release.py"), *options, str(target)],
                   check=True, capture_output=True, timeout=RELEASE_TIMEOUT,
                   stdin=subprocess.DEVNULL)
    return target


@pytest.fixture(scope="session")
def released_kits(tmp_path_factory):
    """(a perfect copy: released with the answers; a blank copy: as students get it),
    written once per test session. Copy them before changing them."""
    work = tmp_path_factory.mktemp("released-kits")
    return release(work / "perfect", "--with-solutions"), release(work / "blank")


class EventLog(queue.Queue):
    """The server's on_event lines, to wait for one without sleeping."""

    def wait_for(self, wanted, timeout=10.0, limit=10_000):
        """The first event that contains ``wanted`` (or satisfies it, if callable)."""
        test = wanted if callable(wanted) else (lambda event: wanted in event)
        seen = []
        for _ in range(limit):
            try:
                event = self.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no event {wanted!r}; saw {seen[-10:]}") from None
            seen.append(event)
            if test(event):
                return event
        raise AssertionError(f"no event {wanted!r} among {limit}")


@pytest.fixture
def events():
    return EventLog()


@pytest.fixture
def server(events):
    """A ChatServer on 127.0.0.1 and a free port; stopped after the test.

    Its clients all come from 127.0.0.1 and send as fast as a program can,
    to test what is lost, so the limit per address and the flood control,
    which would slow them to a person's pace, are off. tests/test_abuse.py
    tests those.
    """
    with ChatServer(on_event=events.put) as chat:
        yield chat


@pytest.fixture
def connect(server):
    """connect() -> a LineClient that has been welcomed (so it is in the room)."""
    clients = []

    def connect_one():
        client = LineClient(server.address)
        clients.append(client)
        client.joined()
        return client

    yield connect_one
    for client in clients:
        client.close()


@pytest.fixture
def no_leftovers():
    """Asserts that the test left no thread and no open file descriptor behind.

    Only what the test itself started counts: threads of an earlier test may
    still be closing their sockets meanwhile.
    """
    threads = set(threading.enumerate())
    fds = _open_fds()
    yield
    assert [t for t in threading.enumerate() if t not in threads] == []
    if fds is not None:
        assert _open_fds() - fds == set()


def _open_fds():
    try:
        return set(os.listdir("/proc/self/fd"))
    except OSError:
        return None  # not Linux: the thread check still runs


def script_env(**extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_script(*args, input=None, timeout=SCRIPT_TIMEOUT, env=None):
    """Run ``python ARGS`` to the end; returns the CompletedProcess with text output."""
    return subprocess.run([sys.executable, *args], input=input, capture_output=True,
                          encoding="utf-8", errors="replace", timeout=timeout,
                          env=env or script_env(), cwd=ROOT)


class Script:
    """A ``python ARGS`` (or ``program ARGS``) subprocess in the background; a thread
    reads its output, so that waiting for a line has a timeout."""

    def __init__(self, *args, env=None, program=sys.executable, cwd=ROOT):
        self.process = subprocess.Popen(
            [program, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, encoding="utf-8", errors="replace",
            env=env or script_env(), cwd=cwd)
        self.output = queue.Queue()
        self.seen = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.output.put(line.rstrip("\n"))
        self.output.put(None)  # end of output

    def wait_for(self, wanted, timeout=10.0, limit=10_000):
        """Output lines up to the first that contains ``wanted``."""
        start = len(self.seen)
        for _ in range(limit):
            try:
                line = self.output.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {wanted!r} in output: {self.seen}") from None
            if line is None:
                raise AssertionError(f"output ended before {wanted!r}: {self.seen}")
            self.seen.append(line)
            if wanted in line:
                return self.seen[start:]
        raise AssertionError(f"no {wanted!r} among {limit} lines of output")

    def type(self, text):
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def finish(self, timeout=10.0):
        """Wait for the exit; return (exit code, the rest of stdout, stderr)."""
        code = self.process.wait(timeout)
        rest = []
        while True:
            line = self.output.get(timeout=timeout)
            if line is None:
                break
            rest.append(line)
        self.seen += rest
        stderr = self.process.stderr.read()
        self.kill()  # it has exited: this closes its pipes
        return code, rest, stderr

    def kill(self):
        """End the process if it still runs, and close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(10)  # it has read to the end of the output
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                pipe.close()
            except BrokenPipeError:
                pass  # unsent input for a process that has gone



@pytest.fixture
def scripts():
    """scripts(*args) starts a Script; every one still running is killed at the end."""
    started = []

    def start(*args, env=None, program=sys.executable):
        started.append(Script(*args, env=env, program=program))
        return started[-1]

    yield start
    for script in started:
        script.kill()


def server_port(script):
    """Wait for a server subprocess to say where it listens; return the port."""
    line = script.wait_for("Chat server listening on")[-1]
    return int(line.split(" port ")[1].split(".")[0])
