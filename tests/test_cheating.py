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
import hashlib
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
CONFTEST = ROOT / "tests" / "grading" / "conftest.py"

# Each attack runs at the start of percentile(), or when measure.py is imported.
ATTACKS = {
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


def release(target, *options):
    subprocess.run([sys.executable, str(ROOT / "tests" / "release.py"), *options, str(target)],
                   check=True, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    return target


def attack(copy, code, names):
    """Put ``code`` at the start of percentile() in the copy's chatroom/measure.py."""
    path = copy / "chatroom" / "measure.py"
    source = path.read_text(encoding="utf-8")
    body = textwrap.indent(textwrap.dedent(code).strip(), "    ") + "\n"
    for name, value in names.items():
        body = body.replace(name, repr(str(value)))
    marker = '    if not values:\n        raise ValueError("percentile of no values")\n'
    assert marker in source
    path.write_text(source.replace(marker, body + marker, 1), encoding="utf-8")


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def attacked_class(tmp_path_factory):
    """Grade the class; return (rows, the output folder, what the grader's files were before)."""
    perfect = release(tmp_path_factory.mktemp("kit") / "perfect", "--with-solutions")
    class_folder = tmp_path_factory.mktemp("class")
    out = tmp_path_factory.mktemp("grades")
    for name in ("honest", "victim"):
        shutil.copytree(perfect, class_folder / name)
    names = {"ANSWERS": ROOT / "chatroom" / "measure.py", "VICTIM": class_folder / "victim",
             "OUT": out, "CONFTEST": CONFTEST}
    for name, code in ATTACKS.items():
        shutil.copytree(perfect, class_folder / name)
        if code is None:
            measure = class_folder / name / "chatroom" / "measure.py"
            measure.write_text("import os\nos._exit(3)\n" + measure.read_text(encoding="utf-8"),
                               encoding="utf-8")
        else:
            attack(class_folder / name, code, names)
    before = {path: digest(path) for path in (CONFTEST, ROOT / "chatroom" / "measure.py")}
    finished = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "grade.py"), str(class_folder), "--out", str(out),
         "--timeout", "3"], capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert finished.returncode == 0, finished.stderr
    time.sleep(4)  # longer than the daemon meant to wait before it rewrote the grades
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        rows = {row["student"]: row for row in csv.DictReader(file)}
    return rows, out, before


def everything_but_exercise_8():
    return sum(points for exercise, tests in grade.catalog().items() if exercise != "ex08_percentile"
               for _, points, *_ in tests)


MAXIMUM = sum(points for tests in grade.catalog().values() for _, points, *_ in tests)


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
    assert int(row["total"]) == everything_but_exercise_8() + int(row["ex08_percentile"]), row
    assert int(row["max"]) == MAXIMUM


def test_the_limits_are_named_as_what_they_are(attacked_class):
    rows, _, _ = attacked_class
    assert "used more than 512 MiB of memory" in rows["holds_a_gibibyte"]["status"]
    assert "printed more than 10 MiB" in rows["prints_fifty_megabytes"]["status"] \
        or "killed" in rows["prints_fifty_megabytes"]["status"]


def test_the_grader_and_the_answers_are_untouched(attacked_class):
    _, _, before = attacked_class
    for path, hashed in before.items():
        assert digest(path) == hashed, f"{path} was changed during the grading"


def test_the_reports_are_the_graders_alone(attacked_class):
    rows, out, _ = attacked_class
    assert set(rows) == {"honest", "victim", *ATTACKS}
    assert "victim,0" not in (out / "grades.csv").read_text(encoding="utf-8")


def test_no_process_of_a_student_is_left(attacked_class):
    left = [pid for slot in range(100) for pid in isolation.processes_of(isolation.BASE_UID + slot)]
    assert left == [], f"processes of students still run: {left}"
