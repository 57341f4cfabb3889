"""Grade the exercises and challenges, for one student or for a whole class.

    python tests/grade.py --student [COPY] [-k ex05]   # COPY defaults to this copy of the kit
    python tests/grade.py CLASS --out DIR               # CLASS: one copy of the kit per student

A student's work is their copy of the kit: the exercises are pieces of its
chatroom/ package, the challenges are files in its exercises/. Each
exercise's tests (tests/grading/test_exNN_*.py and test_chN_*.py, with points
per test) run against one copy, with that copy first on the module path, in a
pytest process of their own
with a time limit per test and a hard limit for the whole process, so an
endless loop, a deadlock, a blocking recv, os._exit or sys.exit at import,
a syntax error or threads left running cost a submission only the points of
what they broke. Exercises and students are graded in parallel.

A student sees points per exercise and, for each test that did not pass, the
message written for them. An instructor gets DIR/grades.csv (student, one
column per exercise, total, max, status), DIR/<student>.json (every test with
its name, points, max, status and message) and DIR/histogram.png.
"""

import argparse
import ast
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRADING = ROOT / "tests" / "grading"
PER_TEST_SECONDS = 5.0
STARTUP_SECONDS = 20.0  # for the pytest process itself, on a busy machine


class UsageError(Exception):
    """A command-line mistake; ``str()`` is the one-line message."""


def catalog():
    """{exercise: [(test name, points), ...]}, read from the grading tests' source.

    The exercises come first, then the challenges, each in number order.
    """
    exercises = {}
    paths = [path for path in GRADING.glob("test_*.py") if re.match(r"test_(ex|ch)\d+_", path.name)]
    for path in sorted(paths, key=_order):
        tests = []
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                tests.append((node.name, _points(node)))
        exercises[path.stem[len("test_"):]] = tests
    return exercises


def _order(path):
    kind, number = re.match(r"test_(ex|ch)(\d+)_", path.name).groups()
    return (kind != "ex", int(number))


def _points(function):
    for decorator in function.decorator_list:
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "points"):
            return ast.literal_eval(decorator.args[0])
    raise ValueError(f"{function.name} has no @pytest.mark.points(n)")


def grade_exercise(folder, exercise, tests, per_test=PER_TEST_SECONDS):
    """Run one exercise's tests against ``folder``; return one result per test."""
    limit = STARTUP_SECONDS + per_test * (len(tests) + 1)
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch:
        results, log = Path(scratch) / "results.jsonl", Path(scratch) / "pytest.log"
        # The test file first and "--option=value": older pytest versions look for
        # the grading conftest (which defines --submission) in the first path given.
        command = [sys.executable, "-m", "pytest", str(GRADING / f"test_{exercise}.py"),
                   "-c", str(GRADING / "pytest.ini"), "--rootdir", str(GRADING), "-q",
                   f"--timeout={per_test}", f"--submission={Path(folder).resolve()}",
                   f"--results={results}"]
        # The copy first on the module path: ``import chatroom`` is the student's package.
        environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
                           PYTHONPATH=str(Path(folder).resolve()))
        with open(log, "w") as output:
            try:
                ended = subprocess.run(command, cwd=scratch, env=environment, timeout=limit,
                                       stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT).returncode
            except subprocess.TimeoutExpired:
                ended = "killed"
        printed = log.read_text(errors="replace")
        if ended not in (0, "killed") and "+ Timeout +" in printed:
            ended = "killed"  # pytest-timeout without signals (Windows) ends the process
        for marker in ("INTERNALERROR", "ERROR: usage", "error: unrecognized arguments"):
            if ended != 0 and marker in printed:  # our fault, not the submission's
                ended = "grader: " + next(line for line in printed.splitlines() if marker in line)
                break
        recorded = {}
        if results.exists():
            for line in results.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                recorded[record["name"]] = record
    return _complete(tests, recorded, ended, limit)


def _complete(tests, recorded, ended, limit):
    """The recorded results, and for each test that recorded none, why not."""
    results, stopped_at = [], None
    for name, points in tests:
        if name in recorded:
            results.append(recorded[name])
            continue
        if stopped_at is None:
            stopped_at = name
            if ended == "killed":
                status = "timeout"
                message = f"the tests did not finish within {limit:.0f} s, and were stopped here"
            elif str(ended).startswith("grader: "):
                status = "error"
                message = f"the grader could not run these tests ({ended[8:].strip()})"
            else:
                status = "error"
                message = (f"Python stopped here (exit code {ended}): does the code call "
                           "os._exit(), or crash the interpreter?")
        else:
            message = f"not run: the tests stopped at {stopped_at}"
        results.append({"name": name, "points": 0, "max": points, "status": status,
                        "message": message, "unusable": False})
    return results


def grade_folders(folders, exercises, per_test=PER_TEST_SECONDS, jobs=None):
    """{folder: {exercise: results}} for every folder and exercise, in parallel."""
    everything = catalog()
    work = [(folder, exercise) for folder in folders for exercise in exercises]
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as pool:
        done = pool.map(lambda job: grade_exercise(job[0], job[1], everything[job[1]], per_test),
                        work)
        graded = {folder: {} for folder in folders}
        for (folder, exercise), results in zip(work, done):
            graded[folder][exercise] = results
    return graded


def exercise_note(results):
    """What went wrong with an exercise as a whole, for the status column, or None."""
    unusable = [result["message"] for result in results if result.get("unusable")]
    if unusable:
        return "missing" if " is missing " in unusable[0] else "does not import"
    if all(result["status"] == "not attempted" for result in results):
        return "not attempted"
    if any(result["status"] == "timeout" for result in results):
        return "timed out"
    if any(result["message"].startswith("Python stopped") for result in results):
        return "crashed Python"
    if any(result["message"].startswith("the grader could not") for result in results):
        return "not graded: the grader failed (see the JSON file)"
    return None


def summary(graded_exercises):
    """(points per exercise, total, max, status) for one student."""
    points = {exercise: sum(result["points"] for result in results)
              for exercise, results in graded_exercises.items()}
    most = sum(result["max"] for results in graded_exercises.values() for result in results)
    notes = [f"{exercise}: {note}" for exercise, results in graded_exercises.items()
             for note in [exercise_note(results)] if note]
    return points, sum(points.values()), most, "; ".join(notes) or "ok"


# -- one student --------------------------------------------------------------

def report(folder, graded_exercises, out=sys.stdout):
    """Print points per exercise and, for each test that did not pass, why."""
    points, total, most, _ = summary(graded_exercises)
    print(f"Grading {shown(folder)}\n", file=out)
    for exercise, results in graded_exercises.items():
        worth = sum(result["max"] for result in results)
        print(f"{exercise:<26} {points[exercise]:>3} / {worth}", file=out)
        missed = [result for result in results if result["status"] != "passed"]
        messages = {result["message"] for result in missed}
        if missed and all(result["status"] == "not attempted" for result in missed) \
                and len(missed) == len(results):
            print(f"    not attempted: {missed[0]['message']}", file=out)
            continue
        if len(missed) > 1 and len(messages) == 1 and len(missed) == len(results):
            print(f"    all {len(missed)} tests, {missed[0]['status']}: {messages.pop()}", file=out)
            continue
        for result in missed:
            unit = "point" if result["max"] == 1 else "points"
            print(f"    {result['status']:<7} {result['name']} ({result['max']} {unit}): "
                  f"{result['message']}", file=out)
    print(f"\nTotal: {total} / {most}", file=out)
    return total, most


def shown(path):
    """``path`` as the user would type it: relative to here when it is below here."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


# -- a class ------------------------------------------------------------------

def write_class_reports(graded, exercises, out_dir):
    """grades.csv, one JSON file per student, and histogram.png, in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    totals = []
    with open(out_dir / "grades.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["student", *exercises, "total", "max", "status"])
        for folder, graded_exercises in graded.items():
            points, total, most, status = summary(graded_exercises)
            writer.writerow([folder.name, *(points[exercise] for exercise in exercises),
                             total, most, status])
            totals.append(total)
            tests = [{"exercise": exercise, **{key: result[key] for key in
                                               ("name", "points", "max", "status", "message")}}
                     for exercise, results in graded_exercises.items() for result in results]
            record = {"student": folder.name, "total": total, "max": most, "status": status,
                      "tests": tests}
            (out_dir / f"{folder.name}.json").write_text(json.dumps(record, indent=2) + "\n",
                                                         encoding="utf-8")
    draw_histogram(totals, most, out_dir / "histogram.png")


def draw_histogram(totals, most, path):
    try:
        import matplotlib
    except ImportError:
        print("note: no histogram, as matplotlib is not installed "
              "(pip install -r requirements.txt)", file=sys.stderr)
        return
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    bins = range(0, most + 2) if most <= 60 else 30
    axes.hist(totals, bins=bins, align="left", rwidth=0.9, range=(0, most + 1))
    axes.set_xlabel(f"total points (out of {most})")
    axes.set_ylabel("students")
    axes.set_title(f"Class totals, {len(totals)} students")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)


# -- the command line ---------------------------------------------------------

def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="python tests/grade.py",
        description="Grade the exercises: for one student (--student) or a class (SUBMISSIONS --out DIR).")
    parser.add_argument("submissions", nargs="?", type=Path,
                        help="a folder with one copy of the kit per student, named after the student")
    parser.add_argument("--out", type=Path, help="where to write grades.csv, the JSON files and histogram.png")
    parser.add_argument("--student", nargs="?", type=Path, const=ROOT, metavar="COPY",
                        help="grade one copy of the kit and show why each test failed (default: this one)")
    parser.add_argument("-k", dest="pattern", default="", metavar="EXERCISE",
                        help="grade only the exercises whose name contains this, e.g. ex05 or ch2")
    parser.add_argument("--timeout", type=float, default=PER_TEST_SECONDS, metavar="SECONDS",
                        help=f"time limit for each test (default {PER_TEST_SECONDS:g})")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="pytest processes at once (default: the number of CPUs)")
    args = parser.parse_args(argv)
    if args.submissions is None and args.student is None:
        args.student = ROOT  # no arguments: a student grading their own copy
    if args.submissions is not None and args.student is not None:
        raise UsageError("give either --student [FOLDER] or SUBMISSIONS --out DIR, not both")
    if args.submissions is not None and args.out is None:
        raise UsageError("grading a class needs --out DIR, where the reports go")
    if args.timeout <= 0 or (args.jobs is not None and args.jobs < 1):
        raise UsageError("--timeout and --jobs must be positive")
    return args


def chosen_exercises(pattern):
    names = list(catalog())
    chosen = [name for name in names if pattern in name]
    if not chosen:
        raise UsageError(f"no exercise matches {pattern!r}; the exercises are {', '.join(names)}")
    return chosen


def find_copy(folder):
    """The copy of the kit in ``folder``, or in the one folder below it that holds it."""
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    if (folder / "chatroom").is_dir():
        return folder
    inside = [path.parent for path in folder.glob("*/chatroom") if path.is_dir()]
    inside += [path.parent for path in folder.glob("*/*/chatroom") if path.is_dir()]
    if len(inside) == 1:
        print(f"found the copy inside {shown(inside[0])}/", file=sys.stderr)  # say where we looked
        return inside[0]
    raise UsageError(f"{folder} is not a copy of the kit: it has no chatroom/ folder")


def copy_in(folder):
    """A student's copy: ``folder`` itself, or the one copy nested inside it."""
    try:
        return find_copy(folder)
    except UsageError:
        return folder  # graded as it is: every piece is missing, and the row says so


def student_folders(submissions):
    if not submissions.is_dir():
        raise UsageError(f"{submissions} is not a folder")
    folders = sorted(path for path in submissions.iterdir()
                     if path.is_dir() and not path.name.startswith((".", "_")))
    if not folders:
        raise UsageError(f"{submissions} holds no student folders (one folder per student)")
    return folders


def main(argv=None):
    try:
        args = parse_arguments(argv)
        exercises = chosen_exercises(args.pattern)
        if args.student is not None:
            copy = find_copy(args.student)
            graded = grade_folders([copy], exercises, args.timeout, args.jobs)
            total, most = report(copy, graded[copy])
            return 0 if total == most else 1
        folders = student_folders(args.submissions)
        started = time.monotonic()
        copies = {folder: copy_in(folder) for folder in folders}
        graded = grade_folders(list(copies.values()), exercises, args.timeout, args.jobs)
        graded = {folder: graded[copies[folder]] for folder in folders}
        write_class_reports(graded, exercises, args.out)
        print(f"Graded {len(folders)} students in {time.monotonic() - started:.0f} s: "
              f"{args.out / 'grades.csv'}, one JSON file per student, {args.out / 'histogram.png'}")
        return 0
    except UsageError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grading interrupted; nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
