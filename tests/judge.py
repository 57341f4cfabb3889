"""Grade one copy of the kit: the judge, which never runs the student's code itself.

For one student, ``grade_copy`` makes a private copy of their folder, runs
the grading tests in one pytest process of ours (tests/grading/conftest.py),
which asks sandboxes to run the student's code (sandbox.py, isolation.py),
and reads back one record per test. On Linux as root that pytest process
starts in a network namespace of its own (loopback only), and the sandboxes
run as the unprivileged user of this job's slot, with the instructor's
folders out of sight. When the tests end, or their time runs out, every
process of that user is killed, and only then are the results read. They
are checked against the catalog: a record that names no test of it, or
claims what the test is not worth, is dropped. Should any process of that
user survive, no result of the student's is kept: every test says so.

Root touches nothing the student's code could write or replace: the runner
the sandboxes start from sits in a folder of root's (isolation.install_runner),
the results in a folder of ours, and the student's files are read without
following links (isolation.read_inside).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRADING = ROOT / "tests" / "grading"
sys.path.insert(0, str(GRADING))
import isolation  # noqa: E402

STARTUP_SECONDS = 30.0  # for pytest itself, on a busy machine
# What the judge needs besides Python 3.9+, pinned for the places that install it for us
# (Gradescope's setup.sh, the students' GitHub workflow): versions that support Python 3.9.
NEEDS = ("pytest==8.4.2", "pytest-timeout==2.4.0")
SURVIVORS = "grader: processes of the student's code could not all be ended"
STATUSES = {"passed", "failed", "not attempted", "error", "timeout", "limit", "grader"}


def test_files(exercises, catalog):
    """The grading test files of ``exercises``, each exercise's public file before its hidden
    one: after a timeout, the exercise's other tests are skipped (tests/grading/conftest.py),
    and the test that timed out is then one the student can read."""
    files = []
    for exercise in exercises:
        files += sorted({path for _, _, _, path in catalog[exercise]},
                        key=lambda path: (path.parent.name == "hidden", path.name))
    return files


def walls_hold(copy, slot, hidden, runner_home):
    """None when a sandbox of this slot starts behind this machine's walls now; else why not.

    A wall that cannot be raised (a namespace, a mount, the sandbox's user) is the
    grader's fault: the student's tests are then not run, and every one says so,
    rather than count as the student's failure.
    """
    jail = isolation.Jail(slot, hidden, runner_home)
    for attempt in range(2):  # once more, for a passing fault
        try:
            done = subprocess.run(jail.walled([jail.python(), "-I", "-c", "pass"]), cwd=copy,
                                  capture_output=True, text=True, errors="replace",
                                  stdin=subprocess.DEVNULL, timeout=STARTUP_SECONDS)
        except (OSError, RuntimeError, subprocess.SubprocessError) as problem:
            why = str(problem)
            continue
        if done.returncode == 0:
            return None
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1][:200]
    return f"the sandbox's walls could not be raised: {why}"


def grade_copy(copy, exercises, catalog, slot=None, hidden=(), per_request=5.0):
    """{exercise: [result, ...]} for one copy of the kit, one result per test of the catalog."""
    scratch = Path(tempfile.mkdtemp(prefix="grade-student-", dir=isolation.scratch_folder()))
    private = Path(tempfile.mkdtemp(prefix="grade-results-"))  # ours alone: mode 0700
    jail = isolation.Jail(slot)
    runner_home, bounded = None, False
    try:
        bounded = jail.uid is not None and isolation.bound_room(scratch, copy)
        graded = isolation.private_copy(copy, scratch, jail.uid)
        fault = None
        if jail.uid is not None:
            runner_home = isolation.install_runner(GRADING / "runner.py")
            fault = walls_hold(graded, slot, hidden, runner_home)
        results = private / "results.jsonl"
        tests = sum(len(catalog[exercise]) for exercise in exercises)
        limit = STARTUP_SECONDS + per_request * 2 * (tests + 1)
        if fault:
            ended, recorded = f"grader: {fault}", {}
        else:
            ended = run_tests(graded, results, test_files(exercises, catalog), slot, hidden,
                              per_request, limit, jail, runner_home)
            recorded = {} if ended == SURVIVORS else read_results(results, catalog, exercises)
    except OSError as problem:  # our own set-up failed: never the student's fault
        ended, recorded = f"grader: {problem}", {}
    finally:
        if jail.uid is not None:
            isolation.kill_user(jail.uid)
            if not isolation.namespaces_allowed():  # else they were the sandbox's own, and are gone
                isolation.sweep(jail.uid)
        if bounded:
            isolation.unbound_room(scratch)
        shutil.rmtree(scratch, ignore_errors=True)  # rmtree never follows a link out
        shutil.rmtree(private, ignore_errors=True)
        if runner_home is not None:
            shutil.rmtree(runner_home, ignore_errors=True)
    return {exercise: complete(catalog[exercise], recorded.get(exercise, {}), ended)
            for exercise in exercises}


def run_tests(copy, results, files, slot, hidden, per_request, limit, jail, runner_home=None):
    """Run the judge's pytest; return 0, "killed", an exit code, or "grader: why"."""
    command = [sys.executable, "-m", "pytest", *map(str, files),
               "-c", str(GRADING / "pytest.ini"), "--rootdir", str(GRADING), "-q",
               f"--submission={copy}", f"--results={results}",
               f"--request-timeout={per_request}", f"--timeout={per_request * 4 + 10}"]
    if slot is not None and isolation.available():
        command += [f"--slot={slot}", f"--hide={os.pathsep.join(str(path) for path in hidden)}",
                    f"--runner-home={runner_home}"]
        if isolation.namespaces_allowed():
            command = ["unshare", "--net", "--", *command]
    log = results.with_suffix(".log")
    with open(log, "w", encoding="utf-8") as output:
        try:
            process = subprocess.Popen(command, cwd=results.parent, stdin=subprocess.DEVNULL,
                                       stdout=output, stderr=subprocess.STDOUT,
                                       env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        except OSError as problem:
            return f"grader: cannot start pytest: {problem}"
        try:
            ended = process.wait(limit)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            ended = "killed"
    if jail.uid is not None and not isolation.kill_user(jail.uid):
        return SURVIVORS  # their results cannot be trusted: none is kept
    printed = log.read_text(encoding="utf-8", errors="replace")
    if ended not in (0, "killed"):
        for marker in ("No module named pytest", "INTERNALERROR", "ERROR: usage", "unrecognized arguments"):
            if marker in printed:
                return "grader: " + next(line for line in printed.splitlines() if marker in line).strip()
    return ended


def read_results(path, catalog, exercises):
    """{exercise: {test name: record}}, keeping only well-formed records of known tests."""
    known = {(exercise, name): (points, visibility) for exercise in exercises
             for name, points, visibility, _ in catalog[exercise]}
    recorded = {}
    if not path.exists():
        return recorded
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:10_000]:
        try:
            record = json.loads(line)
            key = (record["exercise"], record["name"])
            worth, visibility = known[key]
            passed = record["status"] == "passed"
            if record["status"] not in STATUSES or record["points"] != (worth if passed else 0):
                continue
        except (ValueError, KeyError, TypeError):
            continue  # not a record of ours
        recorded.setdefault(key[0], {})[key[1]] = {
            "name": key[1], "points": record["points"], "max": worth, "visibility": visibility,
            "status": record["status"], "message": str(record.get("message", ""))[:500]}
    return recorded


def complete(tests, recorded, ended):
    """The recorded results, and for each test that recorded none, why not."""
    results = []
    for name, points, visibility, _ in tests:
        if name in recorded:
            results.append(recorded[name])
            continue
        if ended == "killed":
            status, message = "timeout", "the tests took too long as a whole, and were stopped"
        elif str(ended).startswith("grader: "):
            status, message = "grader", f"the grader could not run: {ended[8:]}"
        else:
            status, message = "grader", f"the grader stopped early (exit code {ended})"
        results.append({"name": name, "points": 0, "max": points, "visibility": visibility,
                        "status": status, "message": message})
    return results
