"""The grading harness: which folder is graded, points per test, and a results file.

tests/grade.py runs one exercise per pytest process, for example

    python -m pytest -c tests/grading/pytest.ini tests/grading/test_ex05_line_buffer.py
        --submission exercises --results ex05.jsonl

Each finished test is appended to the results file at once, as one JSON line
(name, points, max, status, message), so what finished before a crash or a
kill still counts. The statuses: passed, failed (an assertion, whose message
is written for the student), error (the submission raised, or does not
import) and timeout (pytest-timeout stopped the test).
"""

import importlib.util
import json
import os
import socket
import sys
from pathlib import Path

import pytest

SOCKET_TIMEOUT = 2.0  # for every socket, the submission's own included
ROOT = Path(__file__).resolve().parents[2]


class SubmissionUnusable(Exception):
    """The submitted module cannot be imported; ``str()`` says why, for the student."""


def pytest_addoption(parser):
    parser.addoption("--submission", default=str(ROOT / "exercises"),
                     help="the folder to grade, shaped like exercises/ (default: exercises/)")
    parser.addoption("--results", default=None,
                     help="append one JSON line per finished test to this file")


def pytest_configure(config):
    socket.setdefaulttimeout(SOCKET_TIMEOUT)
    sys.dont_write_bytecode = True  # leave no __pycache__ in a student's folder


def pytest_collection_modifyitems(items):
    unpriced = [item.name for item in items if item.get_closest_marker("points") is None]
    if unpriced:
        raise pytest.UsageError(f"every grading test needs @pytest.mark.points(n): {unpriced}")


@pytest.fixture(scope="session")
def submission(request):
    """submission("ex05_line_buffer") -> the graded folder's module of that name."""
    folder = Path(request.config.getoption("--submission"))
    return lambda name: load(folder, name)


def load(folder, name):
    path = folder / f"{name}.py"
    if not path.is_file():
        raise SubmissionUnusable(f"{path.name} is missing from {folder}")
    spec = importlib.util.spec_from_file_location(f"submitted_{name}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as problem:
        raise SubmissionUnusable(
            f"{path.name} does not parse: {problem.msg} (line {problem.lineno})") from None
    except SystemExit:
        raise SubmissionUnusable(f"{path.name} calls sys.exit() when it is imported") from None
    except Exception as problem:  # the student's code ran and failed: say how
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


def judge(item, report, excinfo):
    """The result of one test, as the report shows it."""
    worth = item.get_closest_marker("points").args[0]
    status, message, unusable = "passed", "", False
    if report.skipped:
        status, message = "error", "skipped"
    elif report.failed:
        error = excinfo.value
        text = str(error).strip()
        if isinstance(error, AssertionError):
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
