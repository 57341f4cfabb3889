"""A class folder as it comes from an LMS, and the reports an instructor takes away.

Real copies of the kit (released as tests/release.py writes them), real zips, real
grading with tests/grade.py: a copy zipped, a copy six folders down, two copies in one
submission, a zip that tries to write outside its folder; one student regraded with
--only; gradebooks for Canvas and Moodle from a roster; and, on Linux as root, walls
that fail, which must never cost a student their grade. To stay quick, the class is
graded on one exercise: the one with the fewest tests.
"""

import csv
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import grade
import isolation
import submissions

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300
ONE = min(grade.catalog(), key=lambda exercise: len(grade.catalog()[exercise]))  # quick to grade
WORTH = sum(points for _, points, *_ in grade.catalog()[ONE])


def run_grade(*arguments, env=None):
    return subprocess.run([sys.executable, str(ROOT / "tests" / "grade.py"), *map(str, arguments)],
                          capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                          cwd=ROOT, env=env)


def zip_folder(folder, target):
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and ".git" not in path.relative_to(folder).parts:
                archive.write(path, Path(folder.name, path.relative_to(folder)).as_posix())
    return target


def rows_of(out):
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        return {row["student"]: row for row in csv.DictReader(file)}


@pytest.fixture(scope="module")
def graded(released_kits, tmp_path_factory):
    """A class as an LMS hands it over, graded once; (class folder, out, the finished run)."""
    perfect, blank = released_kits
    group = tmp_path_factory.mktemp("class")
    zip_folder(perfect, group / "zoe.zip")  # a zip next to the folders, named after it
    shutil.copytree(perfect, group / "deep" / "a" / "b" / "c" / "d" / "e" / "kit")  # 6 down
    shutil.copytree(blank, group / "twice" / "chatroom-main")  # downloaded twice:
    shutil.copytree(perfect, group / "twice" / "chatroom-main (1)")  # the second is done
    shutil.copytree(blank, group / "blank")
    with zipfile.ZipFile(group / "sly.zip", "w") as archive:  # tries to write beside itself
        archive.writestr("../escaped.py", "print('out')\n")
    out = tmp_path_factory.mktemp("out")
    finished = run_grade(group, "--out", out, "-k", ONE)
    assert finished.returncode == 0, finished.stderr
    return group, out, finished


def test_a_zip_a_deep_copy_and_two_copies_are_graded_and_named(graded):
    group, out, finished = graded
    rows = rows_of(out)
    assert sorted(rows) == ["blank", "deep", "sly", "twice", "zoe"]
    assert rows["zoe"][ONE] == rows["deep"][ONE] == rows["twice"][ONE] == str(WORTH)
    found = {name: json.loads((out / f"{name}.json").read_text(encoding="utf-8"))["found"]
             for name in rows}
    assert "unpacked zoe.zip" in found["zoe"]
    assert "a/b/c/d/e/kit/" in found["deep"]
    assert "graded chatroom-main (1)/" in found["twice"] and "not chatroom-main/" in found["twice"]
    assert "the most pieces written" in found["twice"]
    assert "twice: 2 copies: graded chatroom-main (1)/" in finished.stderr


def test_a_zip_that_leaves_its_folder_is_refused_and_the_row_says_so(graded):
    group, out, _ = graded
    row = rows_of(out)["sly"]
    assert row["total"] == "0" and "path outside its folder" in row["status"], row
    assert not (group.parent / "escaped.py").exists() and not (group / "escaped.py").exists()


def test_progress_is_told_as_students_finish(graded):
    _, _, finished = graded
    lines = [line for line in finished.stderr.splitlines() if line.startswith("Graded ")]
    assert lines[0].startswith("Graded 1/5 students, about ") and lines[0].endswith(" left")
    assert lines[-1] == "Graded 5/5 students"
    assert "Graded 5 students in" in finished.stdout


def test_unpacking_refuses_links_escapes_and_too_much(tmp_path):
    def archive(name, members, links=()):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as opened:
            for member, text in members.items():
                opened.writestr(member, text)
            for member, target in links:
                info = zipfile.ZipInfo(member)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                opened.writestr(info, target)
        return path

    cases = {
        "absolute": (archive("a.zip", {"/etc/evil": "x"}), "outside its folder"),
        "climbing": (archive("b.zip", {"kit/../../evil": "x"}), "outside its folder"),
        "a link": (archive("c.zip", {}, [("kit/chatroom", "/etc")]), "holds a link"),
        "too many": (archive("d.zip", {f"f{n}": "" for n in range(11)}), "more than 10 files"),
        "too big": (archive("e.zip", {"big": "x" * 2000}), "more than 1,000 bytes"),
    }
    for what, (path, why) in cases.items():
        with pytest.raises(submissions.UnpackError, match=why):
            submissions.unpack(path, tmp_path / f"into-{path.stem}", most_files=10, most_bytes=1000)
    assert not Path("/etc/evil").exists() and not (tmp_path.parent / "evil").exists()
    good = archive("f.zip", {"kit/chatroom/x.py": "x = 1\n"})
    submissions.unpack(good, tmp_path / "good")
    assert submissions.find_copies(tmp_path / "good") == [tmp_path / "good" / "kit"]


def test_only_regrades_one_student_and_keeps_the_others(graded, released_kits, tmp_path):
    group, out, _ = graded
    mine = tmp_path / "out"
    shutil.copytree(out, mine)
    kept = {name: (mine / f"{name}.json").read_bytes() for name in ("zoe", "deep", "twice", "sly")}
    histogram = (mine / "histogram.png").stat().st_mtime_ns
    shutil.rmtree(group / "blank")  # the blank student hands in their finished work
    shutil.copytree(released_kits[0], group / "blank")
    try:
        finished = run_grade(group, "--out", mine, "--only", "blank")
    finally:
        shutil.rmtree(group / "blank")
        shutil.copytree(released_kits[1], group / "blank")
    assert finished.returncode == 0, finished.stderr
    assert "Graded 1/1 student" in finished.stderr and "Graded 1 student in" in finished.stdout
    rows = rows_of(mine)
    assert rows["blank"][ONE] == str(WORTH) and rows["blank"]["status"] == "ok"
    assert {name: row for name, row in rows.items() if name != "blank"} == \
        {name: row for name, row in rows_of(out).items() if name != "blank"}
    assert all((mine / f"{name}.json").read_bytes() == text for name, text in kept.items())
    assert (mine / "histogram.png").stat().st_mtime_ns > histogram
    with open(mine / "exercises.csv", newline="", encoding="utf-8") as file:
        assert float(next(csv.DictReader(file))["share_full"]) == round(4 / 5, 2)
    for arguments, message in (((group, "--out", mine, "--only", "nobody"), "is not a student"),
                               ((group, "--out", tmp_path / "new", "--only", "blank"), "no grades.csv"),
                               ((group, "--out", mine, "--only", "blank", "-k", ONE), "leave out -k")):
        refused = run_grade(*arguments)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr


ROSTER = """folder,name,id,sis_user_id,sis_login_id,section,email,idnumber
zoe,"Zed, Zoe",101,S101,zoe,A,zoe@example.edu,Z1
deep,"Deep, Dee",102,S102,dee,A,dee@example.edu,D2
twice,"Twice, Tom",103,S103,tom,B,tom@example.edu,T3
blank,"Blank, Bo",104,S104,bo,B,bo@example.edu,B4
absent,"Away, Al",105,S105,al,B,al@example.edu,A5
"""


@pytest.mark.parametrize("lms, header", [
    ("canvas", ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Chat room"]),
    ("moodle", ["Full name", "Email address", "ID number", "Chat room"]),
])
def test_a_gradebook_for_the_lms_from_a_roster(graded, tmp_path, lms, header):
    group, out, _ = graded
    mine = tmp_path / "out"
    shutil.copytree(out, mine)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    finished = run_grade(group, "--out", mine, "--only", "zoe", "--roster", roster, "--lms", lms)
    assert finished.returncode == 0, finished.stderr
    with open(mine / f"{lms}.csv", newline="", encoding="utf-8") as file:
        table = list(csv.reader(file))
    assert table[0] == header
    by_name = {row[0]: row for row in table[1:]}
    assert sorted(by_name) == ["Blank, Bo", "Deep, Dee", "Twice, Tom", "Zed, Zoe"]
    assert by_name["Zed, Zoe"][-1] == str(WORTH) and by_name["Blank, Bo"][-1] == "0"
    if lms == "canvas":
        assert by_name["Zed, Zoe"][1:5] == ["101", "S101", "zoe", "A"]
    else:
        assert by_name["Zed, Zoe"][1:3] == ["zoe@example.edu", "Z1"]
    assert "not in the roster: sly" in finished.stdout and "no submission: absent" in finished.stdout


@pytest.mark.skipif(not isolation.available(), reason="the walls of a user of its own need Linux, root")
def test_a_wall_that_fails_is_never_a_zero(released_kits, tmp_path):
    """setpriv, which gives the sandbox its own user, fails here: no test of the student's
    runs, each says the grader could not, the feedback says it is not their fault, and no
    gradebook gets a 0."""
    broken = tmp_path / "bin"
    broken.mkdir()
    (broken / "setpriv").write_text("#!/bin/sh\necho 'setpriv: not today' >&2\nexit 1\n")
    (broken / "setpriv").chmod(0o755)
    group = tmp_path / "class"
    shutil.copytree(released_kits[0], group / "ann")
    roster = tmp_path / "roster.csv"
    roster.write_text("folder,name,id\nann,\"Ann, A\",7\n", encoding="utf-8")
    env = dict(os.environ, PATH=f"{broken}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    finished = run_grade(group, "--out", out, "-k", ONE, "--roster", roster, "--lms", "canvas", env=env)
    assert finished.returncode == 0, finished.stderr
    record = json.loads((out / "ann.json").read_text(encoding="utf-8"))
    assert {test["status"] for test in record["tests"]} == {"grader"}
    assert "could not" in record["status"], record["status"]
    assert "not your fault" in (out / "feedback" / "ann.md").read_text(encoding="utf-8")
    with open(out / "canvas.csv", newline="", encoding="utf-8") as file:
        assert len(list(csv.reader(file))) == 1  # the header alone: no 0 for Ann
    assert "the grader could not run: ann" in finished.stdout
    mine = run_grade("--student", group / "ann", "-k", ONE, env=env)
    assert "not your fault" in mine.stdout and mine.returncode == 1, mine.stdout


def test_a_hang_costs_one_deadline_per_exercise(released_kits, tmp_path):
    """Every piece loops forever: the exercise's first test times out, and its other tests,
    hidden ones included, end at once, so the whole exercise costs about one deadline."""
    with_hidden = [exercise for exercise, tests in grade.catalog().items()
                   if any(visibility == "hidden" for _, _, visibility, _ in tests)]
    if not with_hidden:
        pytest.skip("no exercise has hidden tests")
    exercise = min(with_hidden, key=lambda name: len(grade.catalog()[name]))
    copy = tmp_path / "class" / "looping"
    shutil.copytree(released_kits[1], copy)
    for path in [*(copy / "chatroom").glob("*.py"), *(copy / "exercises").glob("*.py")]:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        looped = [line[: len(line) - len(line.lstrip())] + "while True:\n"
                  + line[: len(line) - len(line.lstrip())] + "    pass\n"
                  if line.lstrip().startswith('raise NotImplementedError("') else line
                  for line in lines]
        path.write_text("".join(looped), encoding="utf-8")
    out = tmp_path / "out"
    started = time.monotonic()
    finished = run_grade(copy.parent, "--out", out, "-k", exercise, "--timeout", "1")
    took = time.monotonic() - started
    assert finished.returncode == 0, finished.stderr
    tests = json.loads((out / "looping.json").read_text(encoding="utf-8"))["tests"]
    assert {test["status"] for test in tests} == {"timeout"}, tests
    first = [test for test in tests if test["message"] != "skipped: an earlier test of this exercise timed out"]
    assert len(first) == 1 and first[0]["visibility"] == "public", first
    assert took < 30, took  # one deadline of 1 s (twice, for a server that then will not stop)
