"""The grader proves that its tests can fail, and that it is fair and bounded.

One class of copies of the kit is graded for real, with tests/grade.py as an
instructor runs it: a perfect copy (released with solutions), a blank copy (as
released), a partial one, one unzipped into a nested folder, and one that
misbehaves in every way listed below. Each misbehaviour must cost only the
points of the exercise it is in.
"""

import csv
import json
import re
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
EARLIER_TIMEOUT = "skipped: an earlier test of this exercise timed out"
SCRIPT_TIMEOUT = 300


def worth(exercise):
    return sum(points for _, points, *_ in grade.catalog()[exercise])


MAXIMUM = sum(worth(exercise) for exercise in grade.catalog())


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
    "ex07_client": ("client", "        ready, _, _ = select.select([self.sock, self.keys]",
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
def graded_class(released_kits, tmp_path_factory):
    """Grade a class of copies with the instructor's command; return (output folder, rows)."""
    perfect, blank = released_kits
    submissions = tmp_path_factory.mktemp("class")
    shutil.copytree(perfect, submissions / "perfect")
    shutil.copytree(blank, submissions / "blank")
    shutil.copytree(blank, submissions / "partial")
    shutil.copy(perfect / "chatroom" / "measure.py", submissions / "partial" / "chatroom")
    shutil.copytree(submissions / "partial", submissions / "nested" / "submission" / "kit")
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
    assert rows["nested"]["total"] == str(worth("ex08_percentile"))  # a partial copy, graded
    assert "found the copy inside" in finished.stderr and "submission/kit" in finished.stderr


def test_each_misbehaviour_costs_only_its_own_exercise(graded_class):
    out, rows, _ = graded_class
    row, tests = rows["misbehaving"], results_of(out, "misbehaving")

    def outcome(exercise):
        return {test["status"] for (each, _), test in tests.items() if each == exercise}

    def message(exercise):
        return tests[exercise, grade.catalog()[exercise][0][0]]["message"]

    # An endless loop in parse_port: the first test to meet it times out after one deadline,
    # and the exercise's other tests end at once, as timeouts, without a sandbox.
    looping = [tests["ex01_ports_and_addresses", name] for name, *_ in
               grade.catalog()["ex01_ports_and_addresses"]]
    assert {test["status"] for test in looping} == {"timeout"}
    assert sum(1 for test in looping if test["message"] == EARLIER_TIMEOUT) == len(looping) - 1
    assert row["ex01_ports_and_addresses"] == "0"
    # sys.exit inside a piece (ChatClient.step): an error, named, in each test that runs it;
    # the tests of the client's other pieces keep their points.
    exiting = [test for (each, _), test in tests.items()
               if each == "ex07_client" and test["status"] != "passed"]
    assert exiting and all(test["status"] == "error" and "sys.exit()" in test["message"]
                           for test in exiting), exiting
    client_points = worth("ex07_client") - sum(test["max"] for test in exiting)
    assert 0 < client_points < worth("ex07_client")
    assert row["ex07_client"] == str(client_points)
    # A syntax error: the module does not import.
    assert row["ex08_percentile"] == "0" and "does not parse" in message("ex08_percentile")
    # os._exit kills the process: every test of that exercise says so.
    assert row["ex09_listen_errors"] == "0" and "exit code 3" in message("ex09_listen_errors")
    # A process left behind costs nothing, and is gone; the other exercises keep their points.
    assert row["ex05_outbox"] == str(worth("ex05_outbox"))
    if isolation.available():  # without root, a detached process can outlive the grading
        assert not isolation.leftovers(), "a student's process outlived the grading"
    broken = ("ex01_ports_and_addresses", "ex07_client", "ex08_percentile", "ex09_listen_errors")
    exercises = [name for name in grade.catalog() if name.startswith("ex")]
    assert sum(int(row[name]) for name in exercises) == (
        sum(worth(name) for name in exercises) - sum(worth(name) for name in broken) + client_points)
    for exercise in broken:
        assert exercise in row["status"], row["status"]
    # A challenge runs on the student's own pieces: those built on a broken one may lose
    # points (ch1 scans with parse_port, ch2 and ch7 type through the client's step, ch9
    # measures with percentile); every other challenge keeps its full marks.
    built_on_broken = {"ch1_find_the_room", "ch2_long_lines", "ch7_reconnect", "ch9_latency_probe"}
    for challenge in grade.catalog():
        if challenge.startswith("ch") and challenge not in built_on_broken:
            assert row[challenge] == str(worth(challenge)), (challenge, row[challenge])


def test_json_reports_list_every_test_with_its_fields(graded_class):
    out, _, _ = graded_class
    record = json.loads((out / "misbehaving.json").read_text(encoding="utf-8"))
    assert set(record) == {"student", "total", "max", "status", "walls", "found", "tests"}
    assert record["walls"] == isolation.walls()
    for test in record["tests"]:
        assert set(test) == {"exercise", "name", "points", "max", "status", "message", "visibility"}
        assert test["status"] in {"passed", "failed", "error", "timeout", "not attempted", "limit"}
        assert 0 <= test["points"] <= test["max"]


def test_the_histogram_is_a_png(graded_class):
    out, _, _ = graded_class
    assert (out / "histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_stub_is_not_attempted_whatever_the_test_did_with_it(graded_class):
    """A test that catches the stub's error ("should raise ValueError, not
    NotImplementedError") or meets it in a thread still says the piece is not written."""
    out, _, _ = graded_class
    for test in results_of(out, "blank").values():
        assert test["status"] in ("not attempted", "error"), test
        assert test["status"] == "not attempted" or test["message"].startswith("needs "), test
        assert "NotImplementedError" not in test["message"], test


def test_the_status_column_is_ok_only_when_every_test_passed(graded_class):
    out, rows, _ = graded_class
    for student, row in rows.items():
        every_test_passed = all(test["status"] == "passed" for test in results_of(out, student).values())
        assert (row["status"] == "ok") == every_test_passed, row
    for exercise in grade.catalog():  # the blank copy: each exercise says what is missing
        assert f"{exercise}: " in rows["blank"]["status"], (exercise, rows["blank"]["status"])


def test_the_walls_are_said(graded_class):
    out, _, finished = graded_class
    said = isolation.describe(isolation.walls())
    assert finished.stdout.splitlines()[0] == said
    assert (out / "walls.txt").read_text(encoding="utf-8").strip() == said


def test_feedback_shows_no_hidden_check(graded_class):
    """Each student's feedback has their points and public failures, and of the hidden checks
    only how many passed and their points: no name, no message of theirs."""
    out, rows, _ = graded_class
    for student in rows:
        text = (out / "feedback" / f"{student}.md").read_text(encoding="utf-8")
        tests = results_of(out, student).values()
        assert f"# Your grade: {rows[student]['total']} / {rows[student]['max']}" in text
        public_messages = {test["message"] for test in tests if test["visibility"] == "public"}
        for test in tests:
            if test["visibility"] == "public":
                if test["status"] != "passed" and test["status"] != "not attempted":
                    assert test["name"] in text and test["message"] in text, (student, test)
                continue
            assert test["name"] not in text, (student, test["name"])
            if test["message"] and test["message"] not in public_messages:
                assert test["message"] not in text, (student, test["message"])
        assert isolation.describe(isolation.walls()) in text


def test_each_exercise_has_its_row_of_figures(graded_class):
    out, rows, _ = graded_class
    with open(out / "exercises.csv", newline="", encoding="utf-8") as file:
        table = list(csv.DictReader(file))
    assert [row["exercise"] for row in table] == list(grade.catalog())
    for row in table:
        points = [int(student[row["exercise"]]) for student in rows.values()]
        assert float(row["mean"]) == round(sum(points) / len(points), 1)
        assert float(row["share_zero"]) == round(points.count(0) / len(points), 2)
        assert float(row["share_full"]) == round(points.count(int(row["max"])) / len(points), 2)
        names = [name for name, *_ in grade.catalog()[row["exercise"]]]
        assert row["most_failed_test"] in names + [""]
    assert (out / "exercises.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_histogram_counts_whole_students():
    import reports
    plt = reports.plotting()
    if plt is None:
        pytest.skip("matplotlib is not installed")
    records = [{"total": total, "max": 20, "tests": []} for total in (3, 17, 17)]
    figure = reports.histogram(plt, records)
    ticks = figure.axes[0].get_yticks()
    plt.close(figure)
    assert len(ticks) >= 2 and all(tick == int(tick) for tick in ticks), ticks


def run_grade(*arguments):
    return subprocess.run([sys.executable, str(ROOT / "tests" / "grade.py"), *arguments],
                          capture_output=True, text=True, timeout=SCRIPT_TIMEOUT,
                          stdin=subprocess.DEVNULL, cwd=ROOT)


@pytest.fixture(scope="module")
def perfect_copy(released_kits):
    return released_kits[0]


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


def test_a_broken_piece_of_the_server_costs_only_the_tests_of_its_behaviour(perfect_copy, tmp_path):
    """broadcast_lines that sends to the sender too: the check of that behaviour fails, with a
    message that names it, and the other checks of the server, graded from outside, pass."""
    mine = tmp_path / "mine"
    shutil.copytree(perfect_copy, mine)
    server = mine / "chatroom" / "server.py"
    source = server.read_text(encoding="utf-8")
    assert source.count("in self.room.others(sender):") == 1
    server.write_text(source.replace("in self.room.others(sender):", "in self.room.members():"),
                      encoding="utf-8")
    result = run_grade("--student", str(mine), "-k", "ex06")
    assert result.returncode == 1, result.stdout + result.stderr
    missed = [line.split() for line in result.stdout.splitlines() if line.startswith("    ")]
    assert [(words[0], words[1]) for words in missed] == [
        ("failed", "test_every_other_member_gets_each_line_once_in_order_and_the_sender_none")], \
        result.stdout
    assert "got its own line back" in result.stdout and "broadcast_lines" in result.stdout
    points = {name: points for name, points, *_ in grade.catalog()["ex06_server"]}
    most = worth("ex06_server")
    kept = most - points["test_every_other_member_gets_each_line_once_in_order_and_the_sender_none"]
    assert re.search(rf"ex06_server +{kept} / {most}", result.stdout), result.stdout


def test_hints_come_one_step_at_a_time_and_never_grade(perfect_copy):
    first = run_grade("--student", str(perfect_copy), "-k", "ex06", "--hint", "1")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Hint 1 of 3 for ex06_server:"), first.stdout
    assert "--hint 2" in first.stdout and 'check("ex06", hint=2)' in first.stdout
    assert "Total" not in first.stdout  # a hint, not a grade
    last = run_grade("--student", str(perfect_copy), "-k", "ex06", "--hint", "3")
    assert last.returncode == 0 and "That was the last hint" in last.stdout, last.stdout
    for arguments, message in ((["-k", "ex06", "--hint", "4"], "has 3 hints"),
                               (["-k", "ex0", "--hint", "1"], "one exercise"),
                               (["--hint", "1"], "needs the exercise")):
        wrong = run_grade("--student", str(perfect_copy), *arguments)
        assert wrong.returncode == 2 and wrong.stderr.startswith("error: ") and message in wrong.stderr, \
            wrong.stderr


def test_full_marks_exit_0(perfect_copy):
    result = run_grade("--student", str(perfect_copy), "-k", "ex08")
    assert result.returncode == 0, result.stdout + result.stderr
    walls = isolation.describe(isolation.walls()).split(": ")[1]
    assert result.stdout.splitlines()[0].startswith("Grading ") and walls in result.stdout.splitlines()[0]
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
