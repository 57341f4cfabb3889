"""The grader proves that its tests can fail, and that it is fair and bounded.

One class of copies of the kit is graded for real, with tests/grade.py as an
instructor runs it: a perfect copy (released with solutions), a blank copy (as
released), a partial one, one unzipped into a nested folder, and one that
misbehaves in every way listed below. Each misbehaviour must cost only the
points of the exercise it is in.
"""

import csv
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import answers
import grade
import isolation
import make_exercises

ROOT = Path(__file__).resolve().parents[1]
BAD_CASE_TIMEOUT = 1.0  # seconds per test for the class below: the bad cases wait this long
SCRIPT_TIMEOUT = 300


def worth(exercise):
    return sum(points for _, points, *_ in grade.catalog()[exercise])


MAXIMUM = sum(worth(exercise) for exercise in grade.catalog())


def release(target, *options):
    subprocess.run([sys.executable, str(ROOT / "tests" / "release.py"), *options, str(target)],
                   check=True, capture_output=True, timeout=SCRIPT_TIMEOUT, stdin=subprocess.DEVNULL)
    return target


def break_piece(copy, module, before, inserted):
    """Put ``inserted`` lines into chatroom/<module>.py just before the line ``before``."""
    path = copy / "chatroom" / f"{module}.py"
    source = path.read_text(encoding="utf-8")
    assert before in source, f"{before!r} is not in {module}.py"
    path.write_text(source.replace(before, inserted + before, 1), encoding="utf-8")


MISBEHAVIOURS = {
    "ex01_ports_and_addresses": ("cli", "    lowest = 0 if allow_zero else 1\n",
                                 "    while True:  # an endless loop\n        pass\n"),
    "ex05_outbox": ("outbox", "MAX_BACKLOG_BYTES = 256 * 1024",  # a process left behind, detached
                    "import subprocess\nsubprocess.Popen(['sleep', '61'], start_new_session=True)\n"),
    "ex07_client_step": ("client", "        ready, _, _ = select.select([self.sock, self.keys]",
                         "        raise SystemExit('bye')\n"),
    "ex09_listen_errors": ("cli", '    if has_errno(error, "EADDRINUSE")',
                           "    import os\n    os._exit(3)\n"),
}


def misbehaving_copy(target, perfect):
    """The perfect copy, but for one misbehaviour in each of five exercises."""
    shutil.copytree(perfect, target)
    for module, before, inserted in MISBEHAVIOURS.values():
        break_piece(target, module, before, inserted)
    with open(target / "chatroom" / "measure.py", "a", encoding="utf-8") as measure:
        measure.write("\ndef broken(:\n")  # ex08: a syntax error
    return target


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """Grade a class of copies with the instructor's command; return (output folder, rows)."""
    work = tmp_path_factory.mktemp("work")
    perfect = release(work / "perfect", "--with-solutions")
    blank = release(work / "blank")
    submissions = tmp_path_factory.mktemp("class")
    shutil.copytree(perfect, submissions / "perfect")
    shutil.copytree(blank, submissions / "blank")
    shutil.copytree(blank, submissions / "partial")
    shutil.copy(perfect / "chatroom" / "measure.py", submissions / "partial" / "chatroom")
    shutil.copytree(perfect, submissions / "nested" / "submission" / "kit")
    misbehaving_copy(submissions / "misbehaving", perfect)
    out = tmp_path_factory.mktemp("grades")
    finished = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "grade.py"), str(submissions), "--out", str(out),
         "--timeout", str(BAD_CASE_TIMEOUT)],
        capture_output=True, text=True, timeout=SCRIPT_TIMEOUT, stdin=subprocess.DEVNULL)
    assert finished.returncode == 0, finished.stderr
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        rows = {row["student"]: row for row in csv.DictReader(file)}
    return out, rows, finished


def results_of(out, student):
    record = json.loads((out / f"{student}.json").read_text(encoding="utf-8"))
    return {(test["exercise"], test["name"]): test for test in record["tests"]}


def test_every_student_gets_a_row_with_the_right_columns(graded_class):
    out, rows, _ = graded_class
    assert sorted(rows) == ["blank", "misbehaving", "nested", "partial", "perfect"]
    columns = list(next(iter(rows.values())))
    assert columns == ["student", *grade.catalog(), "total", "max", "status"]
    assert {row["max"] for row in rows.values()} == {str(MAXIMUM)}


def test_a_perfect_copy_scores_full_marks(graded_class):
    out, rows, _ = graded_class
    assert rows["perfect"]["total"] == str(MAXIMUM), rows["perfect"]
    assert rows["perfect"]["status"] == "ok"
    tests = results_of(out, "perfect")
    catalogued = {(exercise, name) for exercise, names in grade.catalog().items()
                  for name, *_ in names}
    assert set(tests) == catalogued, "the recorded tests and the catalogue disagree"
    assert {test["status"] for test in tests.values()} == {"passed"}


def test_a_blank_copy_scores_zero_and_is_not_attempted(graded_class):
    out, rows, _ = graded_class
    assert rows["blank"]["total"] == "0"
    tests = results_of(out, "blank").values()
    assert all(test["status"] != "passed" and test["points"] == 0 for test in tests)
    assert "not attempted" in {test["status"] for test in tests}
    assert rows["blank"]["status"].count("not attempted") >= 8, rows["blank"]["status"]


def test_a_partial_copy_gets_the_points_of_what_it_did(graded_class):
    _, rows, _ = graded_class
    assert rows["partial"]["ex08_percentile"] == str(worth("ex08_percentile"))
    assert rows["partial"]["total"] == str(worth("ex08_percentile"))


def test_a_copy_in_a_nested_folder_is_found_and_named(graded_class):
    _, rows, finished = graded_class
    assert rows["nested"]["total"] == str(MAXIMUM)
    assert "found the copy inside" in finished.stderr and "submission/kit" in finished.stderr


def test_each_misbehaviour_costs_only_its_own_exercise(graded_class):
    out, rows, _ = graded_class
    row, tests = rows["misbehaving"], results_of(out, "misbehaving")

    def outcome(exercise):
        return {test["status"] for (each, _), test in tests.items() if each == exercise}

    def message(exercise):
        return tests[exercise, grade.catalog()[exercise][0][0]]["message"]

    # An endless loop in parse_port: its tests time out; resolve's, in the same exercise, pass.
    port_tests = [name for name, *_ in grade.catalog()["ex01_ports_and_addresses"] if "port" in name]
    assert {tests["ex01_ports_and_addresses", name]["status"] for name in port_tests} == {"timeout"}
    resolve_points = sum(points for name, points, *_ in grade.catalog()["ex01_ports_and_addresses"]
                         if name not in port_tests)
    assert row["ex01_ports_and_addresses"] == str(resolve_points)
    # sys.exit inside a piece: an error, named.
    assert row["ex07_client_step"] == "0" and "sys.exit()" in message("ex07_client_step")
    # A syntax error: the module does not import.
    assert row["ex08_percentile"] == "0" and "does not parse" in message("ex08_percentile")
    # os._exit kills the process: every test of that exercise says so.
    assert row["ex09_listen_errors"] == "0" and "exit code 3" in message("ex09_listen_errors")
    # A process left behind costs nothing, and is gone; the other exercises keep their points.
    assert row["ex05_outbox"] == str(worth("ex05_outbox"))
    if isolation.available():  # without root, a detached process can outlive the grading
        assert not [pid for uid in range(isolation.BASE_UID, isolation.BASE_UID + 100)
                    for pid in isolation.processes_of(uid)], "a student's process outlived the grading"
    broken = ("ex01_ports_and_addresses", "ex07_client_step", "ex08_percentile", "ex09_listen_errors")
    assert row["total"] == str(MAXIMUM - sum(worth(exercise) for exercise in broken) + resolve_points)
    for exercise in broken:
        assert exercise in row["status"], row["status"]


def test_json_reports_list_every_test_with_its_fields(graded_class):
    out, _, _ = graded_class
    record = json.loads((out / "misbehaving.json").read_text(encoding="utf-8"))
    assert set(record) == {"student", "total", "max", "status", "tests"}
    for test in record["tests"]:
        assert set(test) == {"exercise", "name", "points", "max", "status", "message", "visibility"}
        assert test["status"] in {"passed", "failed", "error", "timeout", "not attempted", "limit"}
        assert 0 <= test["points"] <= test["max"]


def test_the_histogram_is_a_png(graded_class):
    out, _, _ = graded_class
    assert (out / "histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def run_grade(*arguments):
    return subprocess.run([sys.executable, str(ROOT / "tests" / "grade.py"), *arguments],
                          capture_output=True, text=True, timeout=SCRIPT_TIMEOUT,
                          stdin=subprocess.DEVNULL, cwd=ROOT)


@pytest.fixture(scope="module")
def perfect_copy(tmp_path_factory):
    return release(tmp_path_factory.mktemp("copy") / "kit", "--with-solutions")


def test_a_student_sees_points_and_the_message_for_each_failure(perfect_copy, tmp_path):
    mine = tmp_path / "mine"
    shutil.copytree(perfect_copy, mine)
    cli = mine / "chatroom" / "cli.py"
    cli.write_text(cli.read_text(encoding="utf-8").replace(
        "not lowest <= int(text) <= 65535", "not 0 <= int(text) <= 65535"), encoding="utf-8")
    result = run_grade("--student", str(mine), "-k", "ex01")
    assert result.returncode == 1, result.stderr
    assert "ex01_ports_and_addresses" in result.stdout and "/ 10" in result.stdout
    assert "parse_port('0')" in result.stdout, result.stdout  # the assertion's own words
    assert "Traceback" not in result.stdout + result.stderr


def test_full_marks_exit_0(perfect_copy):
    result = run_grade("--student", str(perfect_copy), "-k", "ex08")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Total: {worth('ex08_percentile')} / {worth('ex08_percentile')}" in result.stdout


@pytest.mark.parametrize("arguments, message", [
    (["--student", "no-such-folder"], "is not a folder"),
    (["--student", "tests"], "is not a copy of the kit"),
    (["-k", "ex99"], "no exercise matches 'ex99'"),
    (["notebooks"], "needs --out DIR"),
    (["chatroom", "--out", "grades"], "holds no student folders"),
    (["--student", "--timeout", "0"], "must be positive"),
])
def test_command_line_mistakes_are_one_line(arguments, message):
    result = run_grade(*arguments)
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_challenges_stubs_are_generated_from_the_solutions():
    assert make_exercises.stale() == [], "run python tests/make_exercises.py"


def test_a_stub_keeps_signature_and_docstring_and_names_the_exercise():
    source = textwrap.dedent('''
        class Room:
            def join(self, member):
                """Add a member."""
                ### BEGIN SOLUTION
                return True
                ### END SOLUTION
        ''')
    assert answers.replace_answers(source, "room.py", answers.package_stub("room")) == \
        textwrap.dedent('''
        class Room:
            def join(self, member):
                """Add a member."""
                raise NotImplementedError("exercise 3 (lesson 3): Room.join")
        ''')
    assert answers.replace_answers(source, "room.py", None) == source.replace(
        "        ### BEGIN SOLUTION\n", "").replace("        ### END SOLUTION\n", "")
    with pytest.raises(answers.MarkerError):
        answers.replace_answers("### BEGIN SOLUTION\nx = 1\n", "bad.py", None)
    with pytest.raises(answers.MarkerError):  # an answer that is no exercise of the catalog
        answers.replace_answers(source.replace("join", "enter"), "room.py", answers.package_stub("room"))


def test_a_grader_without_pytest_says_so_and_blames_no_student(perfect_copy, tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")],
                   check=True, timeout=SCRIPT_TIMEOUT)
    bare = tmp_path / "bare" / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    result = subprocess.run([str(bare), str(ROOT / "tests" / "grade.py"), "--student", str(perfect_copy),
                             "-k", "ex08"], capture_output=True, text=True, timeout=SCRIPT_TIMEOUT,
                            stdin=subprocess.DEVNULL, cwd=ROOT)
    assert "the grader could not run" in result.stdout and "pytest" in result.stdout, result.stdout
    assert "not your fault" in result.stdout
    assert "exit code" not in result.stdout and "os._exit" not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
