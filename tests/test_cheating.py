"""Students who attack the grader: each gets the points of their honest work, and no more.

A class is graded for real with tests/grade.py: two honest perfect copies
(one is the victim the attacks aim at), and one copy per attack, each a
perfect copy whose exercise 8 (chatroom/measure.py) carries the attack. So
every attacker should score full marks on everything else, and on exercise 8
only what honest code in it earns; the perfect copies keep full marks; the
grader's files and reports are untouched; and no process of theirs survives.
These need the walls of tests/grading/isolation.py: Linux, and root.
"""

import csv
import errno
import hashlib
import json
import os
import select
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import grade
import isolation

pytestmark = [pytest.mark.skipif(not isolation.available(),
                                 reason="the grader's walls need Linux, root, unshare and setpriv"),
              pytest.mark.timeout(900)]  # the first test grades the whole class

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 600
SHM_KEY = 0x43484154  # "CHAT": the System V key one attacker leaves a segment under
CONFTEST = ROOT / "tests" / "grading" / "conftest.py"

# Each attack runs at the start of percentile(), or when measure.py is imported.
ATTACKS = {
    "plants_a_link_for_root": """
        # Root used to copy the runner into this folder before every sandbox, following links:
        # replace it, and the runner's own file, by links to a classmate's file and to root's.
        import os, sys
        for place in (os.path.join(os.path.dirname(os.getcwd()), "runner.py"), sys.argv[0]):
            for target in (VICTIM + "/chatroom/measure.py", CANARY):
                try:
                    os.remove(place)
                except OSError:
                    pass
                try:
                    os.symlink(target, place)
                except OSError:
                    pass
        os._exit(0)  # the next test starts a new sandbox
        """,
    "answers_a_huge_number": """
        # An answer the judge's JSON reader refuses (Python 3.11 caps digits at 4,300).
        import sys
        if hasattr(sys, "set_int_max_str_digits"):
            sys.set_int_max_str_digits(0)
        return 10 ** 5000
        """,
    "writes_garbage_to_the_answers": """
        # Write on the runner's answer channel (its private copy of standard output).
        import os
        for fd in range(3, 20):
            try:
                os.write(fd, b"\xff\xfe not an answer {\n" + b"[" * 100000 + b"\n")
            except OSError:
                pass
        return 0.5
        """,
    "keeps_shared_memory": """
        # A System V segment any user may read, and a POSIX one: a channel to the next student.
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        segment = libc.shmget(SHM_KEY, 4096, 0o1666)
        if segment >= 0:
            libc.shmat.restype = ctypes.c_void_p
            address = libc.shmat(segment, None, 0)
            if address not in (None, ctypes.c_void_p(-1).value):
                ctypes.memmove(address, b"a message for the next student", 30)
        with open("/dev/shm/chatroom-left-behind", "w") as left:
            left.write("a message for the next student")
        raise ValueError("nothing to see here")
        """,
    "fills_its_temporary_folders": """
        # tmpfs is memory: fill /tmp and /dev/shm, file after file, until refused.
        import os
        for folder in ("/tmp", "/dev/shm", "/var/tmp"):
            for number in range(100):
                try:
                    with open(os.path.join(folder, f"chatroom-fill-{number}"), "wb") as fill:
                        fill.write(b"x" * (8 << 20))
                except OSError:
                    break
        raise ValueError("nothing to see here")
        """,
    "hops_from_pid_to_pid": """
        # A chain that keeps taking new process ids: each process forks a child and exits.
        import os, time
        started = time.monotonic()
        while time.monotonic() - started < 20:  # bounded: gone by itself after 20 s
            try:
                if os.fork():
                    os._exit(0)
            except OSError:
                time.sleep(0.01)
        os._exit(0)
        """,
    "answers_just_after_the_deadline": """
        # Answer right after the judge stops waiting, so the answer lands on the next request.
        import time
        time.sleep(3.3)
        return 0.5
        """,
    "forges_its_results": """
        # Find the results file on the judge's command line, write full marks, and leave.
        import glob, json, os
        for cmdline in glob.glob("/proc/*/cmdline"):
            try:
                words = open(cmdline, "rb").read().split(b"\\0")
            except OSError:
                continue
            for word in words:
                if word.startswith(b"--results="):
                    try:
                        with open(word.split(b"=", 1)[1].decode(), "a") as results:
                            for name in ("test_summary", "test_the_median_of_an_even_count_interpolates"):
                                results.write(json.dumps({"exercise": "ex08_percentile", "name": name,
                                    "points": 5000, "max": 2, "status": "passed", "message": ""}) + "\\n")
                            results.write("not json at all\\n")
                    except OSError:
                        pass
        os._exit(0)
        """,
    "patches_the_test_machinery": """
        # Drop a conftest.py that passes every test wherever it can write, then patch pytest.
        import os, sys
        hook = "def pytest_runtest_call(item):\\n    return True\\n"
        for folder in {os.getcwd(), os.path.dirname(os.getcwd()), "/tmp"}:
            try:
                with open(os.path.join(folder, "conftest.py"), "w") as planted:
                    planted.write(hook)
            except OSError:
                pass
        try:
            import _pytest.python
            _pytest.python.Function.runtest = lambda self: None
        except ImportError:
            pass
        for module in list(sys.modules.values()):
            if hasattr(module, "judge"):
                module.judge = lambda *args: {"points": 5000, "status": "passed"}
        return 0
        """,
    "returns_what_equals_anything": """
        # An object that equals everything, and its dict.
        class Anything(float):
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            __hash__ = float.__hash__
        return Anything(0)
        """,
    "reads_the_answers": """
        # The instructor's kit is where the grader runs from: take its percentile.
        answers = {}
        exec(open(ANSWERS, encoding="utf-8").read(), answers)
        return answers["percentile"](values, p)
        """,
    "harms_a_classmate": """
        # Edit and delete the victim's copy, in the class folder and in the grader's scratch.
        import glob, os, shutil
        scratch = glob.glob("/tmp/grade-student-*/copy/chatroom/*.py") + glob.glob(
            "/var/lib/chatroom-grader/grade-student-*/copy/chatroom/*.py")
        for target in glob.glob(VICTIM + "/chatroom/*.py") + scratch:
            try:
                with open(target, "w") as victim:
                    victim.write("raise SystemExit('sabotaged')\\n")
            except OSError:
                pass
        shutil.rmtree(VICTIM, ignore_errors=True)
        raise ValueError("nothing to see here")
        """,
    "leaves_a_daemon_to_rewrite_the_grades": """
        # A detached daemon that outlives the grading and rewrites grades.csv afterwards.
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(3)
                for name in ("grades.csv", "victim.json"):
                    try:
                        with open(os.path.join(OUT, name), "w") as report:
                            report.write("student,total\\nvictim,0\\n")
                    except OSError:
                        pass
            os._exit(0)
        raise ValueError("nothing to see here")
        """,
    "edits_the_grader": """
        # Make every later test pass, for everyone: edit the grader's conftest in place.
        try:
            with open(CONFTEST, "a") as grader:
                grader.write("\\ndef pytest_runtest_call(item):\\n    return True\\n")
        except OSError:
            pass
        raise ValueError("nothing to see here")
        """,
    "exits_at_import": None,  # measure.py ends the process as soon as it is imported
    "holds_a_gibibyte": """
        hoard = bytearray(1 << 30)
        return len(hoard)
        """,
    "prints_fifty_megabytes": """
        import sys
        for _ in range(50):
            sys.stdout.write("x" * (1 << 20))
        return 0
        """,
}


def attack(copy, code, names):
    """Put ``code`` at the start of percentile() in the copy's chatroom/measure.py."""
    path = copy / "chatroom" / "measure.py"
    source = path.read_text(encoding="utf-8")
    body = textwrap.indent(textwrap.dedent(code).strip(), "    ") + "\n"
    for name, value in names.items():
        body = body.replace(name, repr(value) if isinstance(value, int) else repr(str(value)))
    marker = '    if not values:\n        raise ValueError("percentile of no values")\n'
    assert marker in source
    path.write_text(source.replace(marker, body + marker, 1), encoding="utf-8")


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def attacked_class(released_kits, tmp_path_factory):
    """Grade the class; return (rows, the output folder, what the grader's files were before)."""
    perfect = released_kits[0]
    class_folder = tmp_path_factory.mktemp("class")
    out = tmp_path_factory.mktemp("grades")
    for name in ("honest", "victim"):
        shutil.copytree(perfect, class_folder / name)
    canary = tmp_path_factory.mktemp("root-only") / "canary"
    canary.write_text("root's alone\n", encoding="utf-8")
    canary.chmod(0o600)
    names = {"ANSWERS": ROOT / "chatroom" / "measure.py", "VICTIM": class_folder / "victim",
             "OUT": out, "CONFTEST": CONFTEST, "CANARY": canary, "SHM_KEY": SHM_KEY}
    for name, code in ATTACKS.items():
        shutil.copytree(perfect, class_folder / name)
        if code is None:
            measure = class_folder / name / "chatroom" / "measure.py"
            measure.write_text("import os\nos._exit(3)\n" + measure.read_text(encoding="utf-8"),
                               encoding="utf-8")
        else:
            attack(class_folder / name, code, names)
    watched = [CONFTEST, ROOT / "chatroom" / "measure.py", canary, class_folder / "honest" /
               "chatroom" / "measure.py", *sorted((ROOT / "tests" / "grading" / "hidden").glob("*.py"))]
    before = {path: digest(path) for path in watched}
    finished = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "grade.py"), str(class_folder), "--out", str(out),
         "--timeout", "3", "-k", ",".join(GRADED),  # the attacks live in exercise 8
         "--jobs", "4"],
        capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert finished.returncode == 0, finished.stderr
    time.sleep(4)  # longer than the daemon meant to wait before it rewrote the grades
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        rows = {row["student"]: row for row in csv.DictReader(file)}
    return rows, out, before


# The attacks live in exercise 8's measure.py. The class is graded on it, on the exercise
# before it that needs no server (1) and on the one after it (9), which must keep their full
# marks whatever exercise 8's code left behind. (The other exercises are graded in
# test_grading.py; grading them here too would cost minutes and show nothing more.)
GRADED = ["ex01_ports_and_addresses", "ex08_percentile", "ex09_listen_errors"]
ATTACKED = ("ex08_percentile",)


def everything_but_the_attacked():
    return sum(points for exercise, tests in grade.catalog().items()
               if exercise in GRADED and exercise not in ATTACKED for _, points, *_ in tests)


MAXIMUM = sum(points for exercise, tests in grade.catalog().items() if exercise in GRADED
              for _, points, *_ in tests)


def test_the_honest_copies_keep_full_marks(attacked_class):
    rows, _, _ = attacked_class
    assert rows["honest"]["total"] == str(MAXIMUM), rows["honest"]
    assert rows["victim"]["total"] == str(MAXIMUM), (
        "the victim's work was harmed by a classmate: " + rows["victim"]["status"])


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_an_attack_earns_only_the_honest_points(attacked_class, name):
    rows, _, _ = attacked_class
    row = rows[name]
    # Code that returns at all leaves the caller's list alone: that check is honestly passed.
    honest = dict((test, points) for test, points, *_ in grade.catalog()["ex08_percentile"])
    assert int(row["ex08_percentile"]) <= honest["test_the_list_given_is_not_changed"], row
    # No more than that: an attack may cost its own copy more (its chain of processes, a
    # sandbox it kills), never earn anything.
    assert int(row["total"]) <= everything_but_the_attacked() + sum(
        int(row[exercise]) for exercise in ATTACKED), row
    assert int(row["max"]) == MAXIMUM


def test_the_limits_are_named_as_what_they_are(attacked_class):
    rows, _, _ = attacked_class
    assert "used more than 512 MiB of memory" in rows["holds_a_gibibyte"]["status"]
    assert "printed more than 10 MiB" in rows["prints_fifty_megabytes"]["status"] \
        or "killed" in rows["prints_fifty_megabytes"]["status"]


def test_the_grader_and_the_answers_are_untouched(attacked_class):
    """Root never writes through a link the sandbox planted: the grader, the hidden tests,
    a classmate's submitted file and a file of root's alone keep their bytes and owner."""
    _, _, before = attacked_class
    for path, hashed in before.items():
        assert not path.is_symlink() and digest(path) == hashed, \
            f"{path} was changed during the grading"
        assert path.stat().st_uid == 0 or path.stat().st_uid < isolation.BASE_UID, \
            f"{path} was handed to a student's user"


def test_an_answer_the_judge_cannot_read_is_the_students_failure(attacked_class):
    """A number of 5,000 digits, or garbage on the answer channel, fails that student's
    tests; it never blames the grader ("not your fault")."""
    rows, out, _ = attacked_class
    for name in ("answers_a_huge_number", "writes_garbage_to_the_answers"):
        assert "grader" not in rows[name]["status"], rows[name]
    record = json.loads((out / "answers_a_huge_number.json").read_text(encoding="utf-8"))
    messages = {test["message"] for test in record["tests"] if test["exercise"] == "ex08_percentile"}
    assert any("a number of 5,001 digits" in message for message in messages), messages


def test_no_ipc_object_or_temporary_file_outlives_a_student(attacked_class):
    """Shared memory made in a sandbox, System V or in /dev/shm, and what filled its
    /tmp, are gone with it: no channel to the next student."""
    with open("/proc/sysvipc/shm", encoding="ascii") as table:
        rows = [line.split() for line in table.read().splitlines()[1:]]
    assert not [row for row in rows if int(row[0]) == SHM_KEY
                or isolation.BASE_UID <= int(row[7]) < isolation.BASE_UID + 1000], rows
    left = [path for folder in ("/tmp", "/dev/shm", "/var/tmp")
            for path in Path(folder).glob("chatroom-fill-*")]
    assert not left and not Path("/dev/shm/chatroom-left-behind").exists(), left


def test_the_reports_are_the_graders_alone(attacked_class):
    rows, out, _ = attacked_class
    assert set(rows) == {"honest", "victim", *ATTACKS}
    assert "victim,0" not in (out / "grades.csv").read_text(encoding="utf-8")


def test_no_process_of_a_student_is_left(attacked_class):
    left = isolation.leftovers()
    assert left == [], f"processes of students still run: {left}"


SPARE_UID = isolation.BASE_UID + 999  # a slot no grading job claims here


def test_kill_user_ends_a_chain_that_hops_pids_with_no_process_limit():
    """A chain whose every process forks its successor and exits never stays at one pid;
    with RLIMIT_NPROC lifted nothing slows it. kill_user must still end it, and say so."""
    chain = ("import os, time\nprint('hopping', flush=True)\nstarted = time.monotonic()\n"
             "while time.monotonic() - started < 30:\n"
             "    try:\n        if os.fork():\n            os._exit(0)\n"
             "    except OSError:\n        pass\n")
    python = isolation.Jail(999).python()
    first = subprocess.Popen(["setpriv", f"--reuid={SPARE_UID}", f"--regid={SPARE_UID}",
                              "--clear-groups", python, "-I", "-c", chain],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             start_new_session=True)
    # It says when it starts: a look at /proc may miss a chain that never stays at one pid.
    ready, _, _ = select.select([first.stdout], [], [], 30)
    assert ready and first.stdout.readline() == b"hopping\n", "the chain did not start"
    assert isolation.kill_user(SPARE_UID) is True
    # A look at /proc misses such a chain almost every time (199 looks in 200 here), but each
    # of its processes holds the pipe's writing end: the pipe ends when the last one does.
    ended, _, _ = select.select([first.stdout], [], [], 5)
    assert ended and first.stdout.read() == b"", "a process of the chain lives on"
    first.stdout.close()
    first.wait(5)


def sandbox_of(slot, tmp_path):
    """A walled sandbox on an empty copy, as a grading job would start it."""
    import sandbox
    copy = tmp_path / "copy"
    copy.mkdir()
    os.chown(tmp_path, isolation.BASE_UID + slot, isolation.BASE_UID + slot)
    os.chown(copy, isolation.BASE_UID + slot, isolation.BASE_UID + slot)
    jail = isolation.Jail(slot, hidden=[ROOT])
    return sandbox.Sandbox(copy, 5.0, jail), jail


@pytest.mark.skipif(not isolation.namespaces_allowed(), reason="this machine refuses namespaces")
def test_a_sandbox_sees_no_other_process_and_keeps_no_ipc(tmp_path):
    """Its own /proc: no grader's command line (paths, hidden tests' names) to read, no
    process of another student to signal; its own IPC namespace: a segment dies with it."""
    box, jail = sandbox_of(998, tmp_path)
    try:
        visible = [entry for entry in box.call("os:listdir", "/proc") if entry.isdigit()]
        assert visible == ["1"], visible  # itself, the first process of its namespace
        libc = box.new("ctypes:CDLL", None)
        assert libc.shmget(SHM_KEY + 1, 4096, 0o1666) >= 0
        # The instructor's kit is out of sight: an empty folder, or not there at all (a kit
        # under /tmp is under the sandbox's own, new /tmp).
        assert not box.call("os.path:exists", str(ROOT / "tests" / "grading"))
    finally:
        box.close()
        shutil.rmtree(jail.runner_home, ignore_errors=True)
    with open("/proc/sysvipc/shm", encoding="ascii") as table:
        assert str(SHM_KEY + 1) not in table.read()
    assert isolation.processes_of(jail.uid) == []


def test_the_runner_is_roots_and_the_sandbox_cannot_replace_it(tmp_path):
    """The sandbox starts from a runner in a folder of root's: it may read it, never
    replace it, so root has nothing of the student's to follow."""
    box, jail = sandbox_of(997, tmp_path)
    try:
        runner = Path(box.call("sys:argv.copy")[0])
        assert runner.parent == Path(jail.runner_home)
        assert runner.stat().st_uid == 0 and runner.parent.stat().st_uid == 0
        refused = box.raised("os:remove", str(runner))
        assert refused is not None and refused.kind == "PermissionError"
    finally:
        box.close()
        shutil.rmtree(jail.runner_home, ignore_errors=True)


@pytest.mark.skipif(not isolation.namespaces_allowed(), reason="this machine refuses namespaces")
def test_a_sandbox_that_writes_without_end_fills_only_its_own_room(tmp_path):
    """The judge makes each private copy's folder a tmpfs with room for the copy and
    ROOM_BYTES more: a student who writes files without end meets ENOSPC there, and the
    disk that classmates' copies and the reports need stays as it was."""
    copy, room = tmp_path / "copy", tmp_path / "room"
    copy.mkdir()
    room.mkdir()
    (copy / "answer.py").write_text("x = 1\n", encoding="utf-8")
    assert isolation.bound_room(room, copy)
    try:
        os.chown(room, SPARE_UID, SPARE_UID)
        writer = ("import os\nwritten = 0\ntry:\n    while written < 4 * ROOM:\n"
                  "        with open(f'file{written}', 'wb') as out:\n"
                  "            out.write(b'x' * (1 << 20))\n"
                  "        written += 1 << 20\nexcept OSError as error:\n"
                  "    print(written, error.errno)\nelse:\n    print(written, 0)\n").replace("ROOM", str(isolation.ROOM_BYTES))
        done = subprocess.run(["setpriv", f"--reuid={SPARE_UID}", f"--regid={SPARE_UID}",
                               "--clear-groups", isolation.Jail(999).python(), "-I", "-c", writer],
                              cwd=room, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        written, error = (int(part) for part in done.stdout.split())
        assert error == errno.ENOSPC and written <= isolation.ROOM_BYTES, done.stdout
    finally:
        isolation.unbound_room(room)
    assert not list(room.iterdir()), "what the sandbox wrote went with its room"
