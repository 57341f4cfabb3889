"""The grading harness: the judge's side. It never imports a student's code.

tests/grade.py runs one student's grading in one pytest process (the judge),
for example

    python -m pytest -c tests/grading/pytest.ini tests/grading/test_ex02_line_buffer.py
        --submission COPY --results results.jsonl

The student's code runs only in sandboxes (sandbox.py, runner.py): processes
of their own, which answer with plain data, and whose every process is killed
before the judge records a result. Network pieces are graded from outside: the
judge talks to the student's server as a client, and is the server of the
student's client.

Fixtures for the grading tests:
    sandbox                    the Sandbox running the graded copy, one per exercise, started
                               again after a test kills it (sandbox.new/call/...)
    start_server(target, ...)  the student's server started in the sandbox, on 127.0.0.1
    written(challenge, *parts) stop as "not attempted" while a part of a challenge is a stub

Each finished test is appended to the results file as one JSON line (name,
points, max, status, message). The statuses: passed; failed (an assertion,
written for the student); not attempted (the piece is still its stub); error
(the code raised, or does not import); timeout; limit (a limit of the sandbox).
"""

import json
import os
import re
import socket
import sys
from pathlib import Path

import pytest

import isolation
from sandbox import GraderFault, RemoteError, Sandbox, SandboxFailure

SOCKET_TIMEOUT = 2.0
KIT = Path(__file__).resolve().parents[2]
STUB = re.compile(r"(exercise (\d+) \(lesson \d+\)|challenge (\d+)): ([\w.]+)")
UNWRITTEN = re.compile(r'NotImplementedError\(\s*"exercise (\d+) \(lesson (\d+)\): ([\w.]+)"')
THREAD_STUB = re.compile(r"NotImplementedError: (" + STUB.pattern + ")")
EARLIER_TIMEOUT = "skipped: an earlier test of this exercise timed out"
TIMED_OUT = set()  # the exercises of this student that have timed out once: the rest are skipped


def pytest_addoption(parser):
    parser.addoption("--submission", default=str(KIT), help="the copy of the kit to grade")
    parser.addoption("--results", default=None, help="append one JSON line per finished test here")
    parser.addoption("--slot", default=None, type=int,
                     help="(grade.py) the sandbox's user slot; the full walls where available")
    parser.addoption("--hide", default="", help="(grade.py) folders the sandbox must not see")
    parser.addoption("--runner-home", default=None,
                     help="(grade.py) root's folder holding the runner the sandboxes start from")
    parser.addoption("--request-timeout", default=5.0, type=float,
                     help="how long one call into the student's code may take, in seconds")


def pytest_configure(config):
    socket.setdefaulttimeout(SOCKET_TIMEOUT)
    sys.dont_write_bytecode = True
    if config.getoption("--slot") is not None and isolation.available():
        isolation.become_reaper()  # the sandboxes' orphans come to us, to be cleared
        if isolation.namespaces_allowed():
            isolation.loopback_up()  # grade.py started us in a network namespace of our own


def pytest_collection_modifyitems(items):
    unpriced = [item.name for item in items if item.get_closest_marker("points") is None]
    if unpriced:
        raise pytest.UsageError(f"every grading test needs @pytest.mark.points(n): {unpriced}")


@pytest.fixture(scope="session")
def folder(request):
    return Path(request.config.getoption("--submission")).resolve()


@pytest.fixture(scope="session")
def jail(request):
    hidden = [path for path in request.config.getoption("--hide").split(os.pathsep) if path]
    return isolation.Jail(request.config.getoption("--slot"), hidden,
                          request.config.getoption("--runner-home"))


class GradedSandbox(Sandbox):
    """A Sandbox that notes, for the judge, what a test met: the stubs the student's code ran
    into, however the test caught them (an assertion about the error, another thread's
    error as text), and a deadline that ran out, even in a teardown that swallowed it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.forget()

    def forget(self):
        """A new test begins: nothing seen yet."""
        self.stubs, self.timed_out = [], False

    def request(self, op, **fields):
        try:
            answer = super().request(op, **fields)
        except RemoteError as error:
            if error.is_a("NotImplementedError") and STUB.fullmatch(error.message):
                self.stubs.append(error.message)
            raise
        except SandboxFailure as failure:
            self.timed_out = self.timed_out or failure.status == "timeout"
            raise
        if op == "threads" and isinstance(answer, list):  # each thread's error, as text
            self.stubs += [found.group(1) for text in answer if isinstance(text, str)
                           for found in [THREAD_STUB.fullmatch(text)] if found]
        return answer


class Keeper:
    """One exercise's sandbox: started when a test first needs it, started again after it dies."""

    def __init__(self, folder, deadline, jail):
        self.folder, self.deadline, self.jail = folder, deadline, jail
        self.current = None

    def sandbox(self):
        if self.current is None or self.current.process.poll() is not None:
            if self.current is not None:
                self.current.close()
            self.current = GradedSandbox(self.folder, self.deadline, self.jail)
        return self.current

    def close(self):
        if self.current is not None:
            self.current.close()  # it, and every process it started


@pytest.fixture(scope="module")
def keeper(request, folder, jail):
    kept = Keeper(folder, request.config.getoption("--request-timeout"), jail)
    yield kept
    kept.close()


@pytest.fixture
def sandbox(request, keeper):
    """The sandbox that runs the graded copy's code for this exercise's tests.

    Once a test of an exercise has timed out, its other tests (hidden ones too) end at
    once, without a sandbox: a piece that hangs costs one deadline, not one per test.
    """
    if exercise_of(request.node) in TIMED_OUT:
        raise SandboxFailure(EARLIER_TIMEOUT, status="timeout")
    current = keeper.sandbox()
    current.forget()
    request.node._graded_sandbox = current  # for the judge: what this test met
    return current


def unwritten(folder, exercises):
    """The first (exercise, lesson, name) of ``exercises`` still a stub in the copy, read as text
    (and read without following links: the student's code may have planted some). ``exercises``
    holds numbers (every piece of that exercise) and piece names ("ChatServer.handle")."""
    for filename in isolation.listed_inside(folder, "chatroom"):
        if not filename.endswith(".py") or filename == "pieces.py":  # its docstring shows a stub
            continue
        text = isolation.read_inside(folder, f"chatroom/{filename}")
        for exercise, lesson, name in UNWRITTEN.findall(text):
            if int(exercise) in exercises or name in exercises:
                return exercise, lesson, name
    return None


@pytest.fixture
def written(folder):
    """written("ch6_private_messages", "PrivateMessagesServer.command", ...): stop the test,
    as not attempted, while one of those parts of the challenge is still its stub."""
    def check(challenge, *parts):
        number = re.match(r"ch(\d+)_", challenge).group(1)
        text = isolation.read_inside(folder, f"exercises/{challenge}.py")
        for part in parts:
            if f'NotImplementedError("challenge {number}: {part}")' in text:
                raise RemoteError({"type": "NotImplementedError", "mro": ["NotImplementedError"],
                                   "message": f"challenge {number}: {part}"})
    return check


class Server:
    """The student's server, running in the sandbox: its address and what it logged."""

    def __init__(self, remote, events):
        self.remote, self._events = remote, events
        self.address = tuple(remote.get("address"))

    def events(self):
        return self._events()


@pytest.fixture
def start_server(sandbox, folder):
    """start_server(target="chatroom.server:ChatServer", needs=(2, ..., 6), **options) -> Server.

    It listens on 127.0.0.1, a free port. While a piece it needs (an exercise's number, or
    a piece's name such as "ChatServer.handle") is a stub, the test stops with "needs
    exercise N first", or "not attempted" for its own exercise, rather than timing out.
    """
    started = []

    def start(target="chatroom.server:ChatServer", needs=(2, 3, 4, 5, 6), **options):
        # The pieces named first: a test's own, so that a blank copy says "not attempted".
        missing = unwritten(folder, [piece for piece in needs if isinstance(piece, str)]) \
            or unwritten(folder, needs)
        if missing:
            raise RemoteError({"type": "NotImplementedError", "mro": ["NotImplementedError"],
                               "message": f"exercise {missing[0]} (lesson {missing[1]}): {missing[2]}"})
        on_event, events = sandbox.events()
        server = sandbox.new(target, "127.0.0.1", 0, on_event=on_event, **options)
        server.start()
        started.append(server)
        return Server(server, events)

    yield start
    for server in started:
        try:
            server.stop()
        except (RemoteError, SandboxFailure):
            pass  # the sandbox ends anyway, and everything in it


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # A result is recorded once the test's sandbox is gone: after its teardown.
    if call.when == "setup" and report.outcome != "passed":
        item._grading_result = judge(item, report, call.excinfo)
    elif call.when == "call":
        item._grading_result = judge(item, report, call.excinfo)
    elif call.when == "teardown" and hasattr(item, "_grading_result"):
        note_a_hang(item, item._grading_result)
        results = item.config.getoption("--results")
        if results:
            with open(results, "a", encoding="utf-8") as file:
                file.write(json.dumps(item._grading_result) + "\n")


def note_a_hang(item, result):
    """After its teardown, a test that did not pass and whose sandbox then ran out of time
    (a server that did not stop: its thread loops) timed out; the exercise's other tests
    are then skipped (the sandbox fixture)."""
    seen = getattr(item, "_graded_sandbox", None)
    if result["status"] in ("failed", "error") and seen is not None and seen.timed_out:
        result["message"] = (f"{result['message']}; then it did not stop within "
                             f"{seen.deadline:g} s either: an endless loop?")[:500]
        result["status"] = "timeout"
    if result["status"] == "timeout":
        TIMED_OUT.add(result["exercise"])


def explain_stubs(item, stubs):
    """(status, message) for a test that met these stubs, or None: its own exercise's stub
    makes it not attempted, another's says which exercise it needs first."""
    def kind_and_number(found):
        return ("ex", int(found.group(2))) if found.group(2) else ("ch", int(found.group(3)))

    found = [STUB.fullmatch(stub) for stub in stubs]
    own = [each for each in found if each and kind_and_number(each) == own_number(item)]
    other = [each for each in found if each and kind_and_number(each) != own_number(item)]
    if own:
        return "not attempted", f"{own[0].group(4)} is not written yet"
    if other:
        return "error", f"needs {other[0].group(1)} first: {other[0].group(4)} is not written yet"
    return None


def exercise_of(item):
    """The exercise a test counts for: test_ex05_outbox.py and hidden/test_ex05_outbox_hidden.py
    both count for ex05_outbox."""
    stem = Path(str(item.fspath)).stem[len("test_"):]
    return stem[: -len("_hidden")] if stem.endswith("_hidden") else stem


def own_number(item):
    """The exercise or challenge a test belongs to: test_ex05_... -> ("ex", 5)."""
    found = re.match(r"test_(ex|ch)(\d+)_", Path(str(item.fspath)).name)
    return (found.group(1), int(found.group(2))) if found else (None, None)


def explain_remote(item, error):
    """(status, message) for an exception the student's code raised."""
    stub = STUB.fullmatch(error.message) if error.is_a("NotImplementedError") else None
    if stub:
        kind, number = ("ex", int(stub.group(2))) if stub.group(2) else ("ch", int(stub.group(3)))
        if (kind, number) == own_number(item):
            return "not attempted", f"{stub.group(4)} is not written yet"
        return "error", f"needs {stub.group(1)} first: {stub.group(4)} is not written yet"
    if error.kind == "SyntaxError":
        return "error", f"the code does not parse: {error.message}"
    if error.kind == "SystemExit":
        return "error", "the code calls sys.exit()"
    if error.kind == "MemoryError":
        return "limit", f"used more than {isolation.MEMORY_BYTES >> 20} MiB of memory"
    if error.kind == "RuntimeError" and "can't start new thread" in error.message:
        return "limit", f"started more than {isolation.PROCESSES} processes and threads"
    if error.kind in ("ModuleNotFoundError", "FileNotFoundError") and "chatroom" in error.message \
            or error.message.endswith(" is missing"):
        return "error", f"missing: {error.message}"
    return "error", f"your code raised {error}"


def judge(item, report, excinfo):
    """The result of one test, as plain data."""
    worth = item.get_closest_marker("points").args[0]
    status, message = "passed", ""
    if report.skipped:
        status, message = "error", "skipped"
    elif report.failed:
        error = excinfo.value
        text = str(error).strip()
        if isinstance(error, RemoteError):
            status, message = explain_remote(item, error)
        elif isinstance(error, SandboxFailure):
            status, message = error.status, text
        elif isinstance(error, AssertionError):
            status, message = "failed", text.splitlines()[0] if text else "an assertion failed"
        elif isinstance(error, socket.timeout):
            status, message = "failed", "the chat room did not answer within 2 s"
        elif isinstance(error, (EOFError, ConnectionError)):
            status, message = "failed", f"the connection ended early: {type(error).__name__}"
        elif text.startswith("Timeout"):  # pytest-timeout, the last resort
            status, message = "timeout", "did not finish in time"
        elif isinstance(error, pytest.fail.Exception):
            status, message = "failed", text
        elif isinstance(error, GraderFault):  # the one failure no submission can cause
            status, message = "grader", f"the grader could not run this test: {text}"
        else:
            # The judge's checks pass on the reference answers (tests/test_grading.py), so an
            # exception here came from what the student's code answered: a value of the
            # wrong shape, say, that a check could not compare.
            status, message = "error", f"the check could not use what your code gave: " \
                                       f"{type(error).__name__}: {text}"
    seen = getattr(item, "_graded_sandbox", None)
    if status in ("failed", "error") and seen is not None and seen.stubs:
        # A stub the test caught and judged ("should raise ValueError, not NotImplementedError")
        # or that a thread met: the piece is not written, whatever the check then said.
        status, message = explain_stubs(item, seen.stubs) or (status, message)
    return {"exercise": exercise_of(item), "name": item.name,
            "points": worth if status == "passed" else 0,
            "max": worth, "status": status, "message": message[:500]}


def pytest_unconfigure(config):
    """Under grade.py, leave at once: nothing of the student's is running any more."""
    if config.getoption("--results"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
