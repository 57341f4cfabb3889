"""The grading harness: which copy of the kit is graded, points per test, and a results file.

tests/grade.py runs one exercise per pytest process, with the graded copy of
the kit first on PYTHONPATH, so ``import chatroom`` is the student's package:

    python -m pytest -c tests/grading/pytest.ini tests/grading/test_ex02_line_buffer.py
        --submission COPY --results ex02.jsonl

Fixtures for the grading tests:
    piece("protocol")          the graded copy's chatroom.protocol
    challenge("ch1_...")       the graded copy's exercises/ch1_....py
    make_pair()                two connected TCP sockets on 127.0.0.1
    start_server(cls, **kw)    a started ChatServer (or a subclass) on 127.0.0.1, port 0,
                               once the exercises it runs on are written

Each finished test is appended to the results file at once, as one JSON line
(name, points, max, status, message), so what finished before a crash or a
kill still counts. The statuses: passed; failed (an assertion, whose message
is written for the student); not attempted (the piece is still its stub);
error (the submission raised, or does not import); timeout.
"""

import importlib
import importlib.util
import json
import os
import queue
import re
import socket
import sys
from pathlib import Path

import pytest

SOCKET_TIMEOUT = 2.0  # for every socket, the submission's own included
KIT = Path(__file__).resolve().parents[2]
STUB = re.compile(r"(exercise (\d+) \(lesson \d+\)|challenge (\d+)): ([\w.]+)")


class SubmissionUnusable(Exception):
    """The submitted module cannot be imported; ``str()`` says why, for the student."""


def pytest_addoption(parser):
    parser.addoption("--submission", default=str(KIT),
                     help="the copy of the kit to grade (default: this one)")
    parser.addoption("--results", default=None,
                     help="append one JSON line per finished test to this file")


def pytest_configure(config):
    socket.setdefaulttimeout(SOCKET_TIMEOUT)
    sys.dont_write_bytecode = True  # leave no __pycache__ in a student's folder
    folder = str(Path(config.getoption("--submission")).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)


def pytest_collection_modifyitems(items):
    unpriced = [item.name for item in items if item.get_closest_marker("points") is None]
    if unpriced:
        raise pytest.UsageError(f"every grading test needs @pytest.mark.points(n): {unpriced}")


@pytest.fixture(scope="session")
def folder(request):
    return Path(request.config.getoption("--submission")).resolve()


@pytest.fixture(scope="session")
def piece(folder):
    """piece("protocol") -> the graded copy's chatroom.protocol module."""
    return lambda module: load_piece(folder, module)


@pytest.fixture(scope="session")
def challenge(folder):
    """challenge("ch1_private_messages") -> the graded copy's exercises/ch1_private_messages.py."""
    return lambda name: load_file(folder / "exercises" / f"{name}.py", f"challenge_{name}")


def load_piece(folder, module):
    path = folder / "chatroom" / f"{module}.py"
    if not path.is_file():
        raise SubmissionUnusable(f"chatroom/{module}.py is missing from {folder.name}")
    try:
        loaded = importlib.import_module(f"chatroom.{module}")
    except SyntaxError as problem:
        raise SubmissionUnusable(f"chatroom/{Path(problem.filename or '').name} does not parse: "
                                 f"{problem.msg} (line {problem.lineno})") from None
    except SystemExit:
        raise SubmissionUnusable(f"chatroom/{module}.py calls sys.exit() when it is imported") from None
    except Exception as problem:  # the student's code ran and failed: say how
        raise SubmissionUnusable(f"importing chatroom.{module} raised "
                                 f"{type(problem).__name__}: {problem}") from None
    if Path(loaded.__file__).resolve() != path.resolve():
        raise RuntimeError(f"the grader imported {loaded.__file__}, not {path}")
    return loaded


def load_file(path, name):
    if not path.is_file():
        raise SubmissionUnusable(f"exercises/{path.name} is missing")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as problem:
        raise SubmissionUnusable(
            f"{path.name} does not parse: {problem.msg} (line {problem.lineno})") from None
    except SystemExit:
        raise SubmissionUnusable(f"{path.name} calls sys.exit() when it is imported") from None
    except Exception as problem:
        raise SubmissionUnusable(
            f"importing {path.name} raised {type(problem).__name__}: {problem}") from None
    return module


@pytest.fixture
def make_pair():
    """make_pair() -> two connected TCP sockets on 127.0.0.1, closed after the test."""
    made = []

    def connected_pair():
        with socket.create_server(("127.0.0.1", 0)) as listener:
            near = socket.create_connection(listener.getsockname(), timeout=SOCKET_TIMEOUT)
            far, _ = listener.accept()
        far.settimeout(SOCKET_TIMEOUT)
        made.extend([near, far])
        return near, far

    yield connected_pair
    for sock in made:
        sock.close()


@pytest.fixture
def start_server(piece):
    """start_server(cls=None, needs=(2, ..., 6), **options) -> a started server on 127.0.0.1.

    It listens on a free port; ``server.events`` is a queue of what it logged. A server
    needs the exercises it runs on (``needs``): while one is a stub, the test stops with
    "needs exercise N first". Every server is stopped after the test.
    """
    started = []

    def start(cls=None, needs=(2, 3, 4, 5, 6), **options):
        for absent in piece("pieces").missing(needs)[:1]:  # say so, rather than time out
            raise NotImplementedError(f"exercise {absent.exercise} (lesson {absent.lesson}): "
                                      f"{absent.name}")
        events = queue.Queue()
        server = (cls or piece("server").ChatServer)("127.0.0.1", 0, on_event=events.put, **options)
        server.events = events
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    finished = call.when == "call" or (call.when == "setup" and report.outcome != "passed")
    results = item.config.getoption("--results")
    if finished and results:
        record = judge(item, report, call.excinfo)
        with open(results, "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")


def own_number(item):
    """The number of the exercise or challenge a test belongs to: test_ex05_... -> 5."""
    found = re.match(r"test_(ex|ch)(\d+)_", Path(str(item.fspath)).name)
    return (found.group(1), int(found.group(2))) if found else (None, None)


def judge(item, report, excinfo):
    """The result of one test, as the report shows it."""
    worth = item.get_closest_marker("points").args[0]
    status, message, unusable = "passed", "", False
    if report.skipped:
        status, message = "error", "skipped"
    elif report.failed:
        error = excinfo.value
        text = str(error).strip()
        stub = STUB.fullmatch(text) if isinstance(error, NotImplementedError) else None
        if stub:
            kind, number = ("ex", int(stub.group(2))) if stub.group(2) else ("ch", int(stub.group(3)))
            if (kind, number) == own_number(item):
                status, message = "not attempted", f"{stub.group(4)} is not written yet"
            else:
                status, message = "error", f"needs {stub.group(1)} first: {stub.group(4)} is not written yet"
        elif isinstance(error, AssertionError):
            status, message = "failed", text.splitlines()[0] if text else "an assertion failed"
        elif text.startswith("Timeout"):  # pytest-timeout's own failure
            status = "timeout"
            limit = item.config.getoption("timeout", None) or item.config.getini("timeout")
            message = (f"did not finish within {limit} s: "
                       "an endless loop, a deadlock, or a recv that nothing answers?")
        elif isinstance(error, pytest.fail.Exception):  # pytest.fail() in a test
            status, message = "failed", text
        elif isinstance(error, SubmissionUnusable):
            status, message, unusable = "error", text, True
        else:
            status, message = "error", f"{type(error).__name__}: {text}".rstrip(": ")
    return {"name": item.name, "points": worth if status == "passed" else 0,
            "max": worth, "status": status, "message": message, "unusable": unusable}


def pytest_unconfigure(config):
    """Under grade.py, exit at once: never wait for threads a submission left running."""
    if config.getoption("--results"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
