"""The grader proves that its tests can fail, and that it is fair and bounded.

One class is graded for real, with tests/grade.py as an instructor runs it:
the reference solutions (full marks), the untouched stubs (zero), a partial
submission, and a submission that misbehaves in every way the issue lists.
Each misbehaviour must cost only the points of the exercise it is in.
"""

import csv
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import grade
import make_exercises

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"
BAD_CASE_TIMEOUT = 1.0  # seconds per test for the class below: the bad cases wait this long
SCRIPT_TIMEOUT = 120


def worth(exercise):
    return sum(points for _, points in grade.catalog()[exercise])


MAXIMUM = sum(worth(exercise) for exercise in grade.catalog())


def replace(folder, exercise, source):
    (folder / f"{exercise}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def misbehaving_submission(folder):
    """The reference solutions, except one misbehaviour per exercise."""
    shutil.copytree(SOLUTIONS, folder)
    solution = (SOLUTIONS / "ex01_sockets.py").read_text(encoding="utf-8")
    # ex01: waits for the close even past the limit, with no timeout: a blocking recv.
    replace(folder, "ex01_sockets", solution.replace(
        "    chunks = []\n",
        "    sock.settimeout(None)\n    limit = float('inf')\n    chunks = []\n"))
    replace(folder, "ex02_threads", """
        import threading

        class Roster:
            def __init__(self):
                self.lock = threading.Lock()
                self.names = []

            def add(self, name):
                with self.lock:
                    with self.lock:  # a deadlock: the lock is not re-entrant
                        self.names.append(name)

            def remove(self, name):
                pass

            def snapshot(self):
                return []
        """)
    replace(folder, "ex03_broadcast", "import os\nos._exit(3)\n")
    replace(folder, "ex04_select_loop", "import sys\nsys.exit('bye')\n")
    replace(folder, "ex05_line_buffer", """
        class LineBuffer:
            def __init__(self, max_bytes=2048):
                self.max_bytes = max_bytes

            def feed(self, data):
                while True:  # an endless loop
                    pass
        """)
    replace(folder, "ex06_safe_text", "def clean_text(text)\n    return text\n")
    # ex07: correct, but leaves a thread running that never ends.
    (folder / "ex07_outbox.py").write_text(
        "import threading\nthreading.Thread(target=threading.Event().wait).start()\n"
        + (SOLUTIONS / "ex07_outbox.py").read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "ex09_command_line.py").unlink()  # and one exercise not handed in


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """Grade four students with the instructor's command; return (output folder, rows)."""
    submissions = tmp_path_factory.mktemp("submissions")
    shutil.copytree(SOLUTIONS, submissions / "reference")
    shutil.copytree(EXERCISES, submissions / "untouched")
    shutil.copytree(EXERCISES, submissions / "partial")
    shutil.copy(SOLUTIONS / "ex08_percentile.py", submissions / "partial")
    misbehaving_submission(submissions / "misbehaving")
    out = tmp_path_factory.mktemp("grades")
    finished = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "grade.py"), str(submissions), "--out", str(out),
         "--timeout", str(BAD_CASE_TIMEOUT)],
        capture_output=True, text=True, timeout=SCRIPT_TIMEOUT, stdin=subprocess.DEVNULL)
    assert finished.returncode == 0, finished.stderr
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        rows = {row["student"]: row for row in csv.DictReader(file)}
    return out, rows


def results_of(out, student):
    record = json.loads((out / f"{student}.json").read_text(encoding="utf-8"))
    return {(test["exercise"], test["name"]): test for test in record["tests"]}


def test_every_student_gets_a_row_with_the_right_columns(graded_class):
    out, rows = graded_class
    assert sorted(rows) == ["misbehaving", "partial", "reference", "untouched"]
    columns = list(next(iter(rows.values())))
    assert columns == ["student", *grade.catalog(), "total", "max", "status"]
    assert {row["max"] for row in rows.values()} == {str(MAXIMUM)}


def test_reference_solutions_score_full_marks(graded_class):
    out, rows = graded_class
    assert rows["reference"]["total"] == str(MAXIMUM), rows["reference"]
    assert rows["reference"]["status"] == "ok"
    tests = results_of(out, "reference")
    catalogued = {(exercise, name) for exercise, names in grade.catalog().items()
                  for name, _ in names}
    assert set(tests) == catalogued, "the recorded tests and the catalogue disagree"
    assert {test["status"] for test in tests.values()} == {"passed"}


def test_untouched_stubs_score_zero(graded_class):
    out, rows = graded_class
    assert rows["untouched"]["total"] == "0"
    tests = results_of(out, "untouched").values()
    assert all(test["status"] != "passed" and test["points"] == 0 for test in tests)
    assert any("yours to write" in test["message"] for test in tests)


def test_a_partial_submission_gets_the_points_of_what_it_did(graded_class):
    _, rows = graded_class
    assert rows["partial"]["ex08_percentile"] == str(worth("ex08_percentile"))
    assert rows["partial"]["total"] == str(worth("ex08_percentile"))


def test_each_misbehaviour_costs_only_its_own_exercise(graded_class):
    out, rows = graded_class
    row, tests = rows["misbehaving"], results_of(out, "misbehaving")

    def outcome(exercise):
        return {test["status"] for (each, _), test in tests.items() if each == exercise}

    # A blocking recv: the one test that needs the limit times out, the rest pass.
    assert tests["ex01_sockets", "test_stops_at_the_limit_without_waiting_for_the_close"][
        "status"] == "timeout"
    assert row["ex01_sockets"] == str(worth("ex01_sockets") - 2)
    # A deadlock and an endless loop: timeouts, no points.
    assert row["ex02_threads"] == "0" and "timeout" in outcome("ex02_threads")
    assert row["ex05_line_buffer"] == "0" and outcome("ex05_line_buffer") == {"timeout"}
    # os._exit at import kills the process: every test of that exercise says so.
    assert row["ex03_broadcast"] == "0" and outcome("ex03_broadcast") == {"error"}
    first_test = grade.catalog()["ex03_broadcast"][0][0]
    assert "exit code 3" in tests["ex03_broadcast", first_test]["message"]
    # sys.exit at import, a syntax error, a missing file: the module does not import.
    assert "sys.exit()" in tests["ex04_select_loop", "test_quit_is_sent_and_ends_the_chat"]["message"]
    assert "does not parse" in tests["ex06_safe_text", "test_a_tab_becomes_a_space"]["message"]
    assert "missing" in tests["ex09_command_line", "test_good_ports"]["message"]
    # A thread left running costs nothing, and the working exercise keeps its points.
    assert row["ex07_outbox"] == str(worth("ex07_outbox"))
    assert row["ex08_percentile"] == str(worth("ex08_percentile"))
    assert row["total"] == str(worth("ex01_sockets") - 2 + worth("ex07_outbox")
                               + worth("ex08_percentile"))
    for exercise in ("ex01_sockets", "ex02_threads", "ex03_broadcast", "ex04_select_loop",
                     "ex05_line_buffer", "ex06_safe_text", "ex09_command_line"):
        assert exercise in row["status"], row["status"]


def test_json_reports_list_every_test_with_its_fields(graded_class):
    out, _ = graded_class
    record = json.loads((out / "misbehaving.json").read_text(encoding="utf-8"))
    assert set(record) == {"student", "total", "max", "status", "tests"}
    for test in record["tests"]:
        assert set(test) == {"exercise", "name", "points", "max", "status", "message"}
        assert test["status"] in {"passed", "failed", "error", "timeout"}
        assert 0 <= test["points"] <= test["max"]


def test_the_histogram_is_a_png(graded_class):
    out, _ = graded_class
    assert (out / "histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def run_grade(*arguments):
    return subprocess.run([sys.executable, str(ROOT / "tests" / "grade.py"), *arguments],
                          capture_output=True, text=True, timeout=SCRIPT_TIMEOUT,
                          stdin=subprocess.DEVNULL, cwd=ROOT)


def test_a_student_sees_points_and_the_message_for_each_failure(tmp_path):
    work = tmp_path / "mine"
    shutil.copytree(EXERCISES, work)
    replace(work, "ex09_command_line", (SOLUTIONS / "ex09_command_line.py").read_text(
        encoding="utf-8").replace("not 1 <= int(text) <= 65535", "not 0 <= int(text) <= 65535"))
    result = run_grade("--student", str(work), "-k", "ex09")
    assert result.returncode == 1, result.stderr
    assert "ex09_command_line" in result.stdout and "/ 10" in result.stdout
    assert "parse_port('0')" in result.stdout, result.stdout  # the assertion's own words
    assert "Traceback" not in result.stdout + result.stderr


def test_full_marks_exit_0(tmp_path):
    result = run_grade("--student", str(SOLUTIONS), "-k", "ex08")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Total: {worth('ex08_percentile')} / {worth('ex08_percentile')}" in result.stdout


@pytest.mark.parametrize("arguments, message", [
    (["--student", "no-such-folder"], "is not a folder"),
    (["-k", "ex99"], "no exercise matches 'ex99'"),
    (["solutions"], "needs --out DIR"),
    (["exercises", "--out", "grades"], "holds no student folders"),
    (["--student", "--timeout", "0"], "must be positive"),
])
def test_command_line_mistakes_are_one_line(arguments, message):
    result = run_grade(*arguments)
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_exercises_are_generated_from_the_solutions():
    problems = make_exercises.differences(SOLUTIONS, EXERCISES)
    assert problems == [], "run python tests/make_exercises.py: " + "; ".join(problems)


def test_the_sync_check_names_a_stale_exercise(tmp_path):
    stale = tmp_path / "exercises"
    shutil.copytree(EXERCISES, stale)
    (stale / "ex05_line_buffer.py").write_text("# an old version\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "make_exercises.py"), "--check",
         "--exercises", str(stale)], capture_output=True, text=True, timeout=SCRIPT_TIMEOUT)
    assert result.returncode == 1
    assert "ex05_line_buffer.py" in result.stderr and "ex01" not in result.stderr


def test_a_stub_keeps_signature_and_docstring_and_drops_the_solution():
    source = textwrap.dedent('''
        def twice(x):
            """Return x doubled."""
            ### BEGIN SOLUTION
            return 2 * x
            ### END SOLUTION
        ''')
    assert make_exercises.stub(source) == textwrap.dedent('''
        def twice(x):
            """Return x doubled."""
            raise NotImplementedError("twice(): yours to write")
        ''')
    with pytest.raises(make_exercises.MarkerError):
        make_exercises.stub("### BEGIN SOLUTION\nx = 1\n")
