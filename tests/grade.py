"""Grade the exercises and challenges, for one student or for a whole class.

    python tests/grade.py --student [COPY] [-k ex05]   # COPY defaults to this copy of the kit
    python tests/grade.py CLASS --out DIR               # CLASS: one copy of the kit per student
    python tests/grade.py --gradescope FILE.zip         # a Gradescope autograder

A student's work is their copy of the kit: the exercises are pieces of its
chatroom/ package, the challenges are files in its exercises/. The judge
(tests/judge.py) grades each copy in a pytest process of its own that never
imports the student's code: the code runs in sandboxes, isolated as far as
the system allows (tests/grading/isolation.py), and answers with plain data.
Every test of tests/grading/test_*.py (public: they ship in the students'
copy) and tests/grading/hidden/ (only here and in the Gradescope bundle) has
its points; a copy earns the points of the tests it passes.

A student sees points per exercise, what the public checks cover, and for
each test that did not pass, a message written for them. An instructor gets
DIR/grades.csv (student, one column per exercise, total, max, status),
DIR/<student>.json (every test: name, points, max, status, message,
visibility) and DIR/histogram.png, written by this process alone, once
every student process has ended.
"""

import argparse
import ast
import csv
import json
import os
import queue
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import judge

ROOT = Path(__file__).resolve().parents[1]
GRADING = ROOT / "tests" / "grading"
HIDDEN = GRADING / "hidden"
PER_REQUEST_SECONDS = 5.0


class UsageError(Exception):
    """A command-line mistake; ``str()`` is the one-line message."""


def catalog():
    """{exercise: [(test name, points, "public" or "hidden", file), ...]}, from the tests' source.

    The exercises come first, then the challenges, each in number order. An
    exercise's hidden tests are in hidden/test_<exercise>_hidden.py, where they exist.
    """
    exercises = {}
    paths = [path for path in GRADING.glob("test_*.py") if re.match(r"test_(ex|ch)\d+_", path.name)]
    for path in sorted(paths, key=_order):
        exercise = path.stem[len("test_"):]
        exercises[exercise] = _tests(path, "public")
        secret = HIDDEN / f"test_{exercise}_hidden.py"
        if secret.is_file():
            exercises[exercise] += _tests(secret, "hidden")
    return exercises


def _tests(path, visibility):
    return [(node.name, _points(node), visibility, path)
            for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]


def _order(path):
    kind, number = re.match(r"test_(ex|ch)(\d+)_", path.name).groups()
    return (kind != "ex", int(number))


def _points(function):
    for decorator in function.decorator_list:
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "points"):
            return ast.literal_eval(decorator.args[0])
    raise ValueError(f"{function.name} has no @pytest.mark.points(n)")


def grade_folders(folders, exercises, per_request=PER_REQUEST_SECONDS, jobs=None, hidden=()):
    """{folder: {exercise: results}} for every folder, several students at once.

    Each job has a slot, and on Linux as root a user of its own for its sandboxes,
    so that no two students' code ever runs as the same user at the same time.
    """
    everything = catalog()
    # Grading mostly waits (for servers, sockets, deadlines): two students per CPU keep it busy.
    jobs = max(1, min(jobs or 2 * (os.cpu_count() or 1), len(folders)))
    claimed = judge.isolation.Slots(jobs) if judge.isolation.available() else None
    if claimed:
        judge.isolation.become_reaper()  # a judge's orphans come to us, to be cleared
    slots = queue.Queue()
    for slot in (claimed.numbers if claimed else range(jobs)):
        slots.put(slot)

    def grade_one(folder):
        slot = slots.get()
        try:
            return judge.grade_copy(folder, exercises, everything, slot, hidden, per_request)
        finally:
            slots.put(slot)

    try:
        with judge.isolation.OutOfSight(hidden), ThreadPoolExecutor(max_workers=slots.qsize()) as pool:
            return dict(zip(folders, pool.map(grade_one, folders)))
    finally:
        if claimed:
            claimed.release()


def exercise_note(results):
    """What went wrong with an exercise as a whole, for the status column, or None."""
    statuses = [result["status"] for result in results]
    messages = [result["message"] for result in results]
    if "grader" in statuses:
        return "the grader could not run: " + next(
            message for status, message in zip(statuses, messages) if status == "grader").split(": ", 1)[-1]
    if all(status == "not attempted" for status in statuses):
        return "not attempted"
    if any(message.startswith("missing") for message in messages):
        return "missing"
    if any(message.startswith("the code does not parse") for message in messages):
        return "does not parse"
    if "limit" in statuses:
        return next(message for status, message in zip(statuses, messages) if status == "limit")
    if "timeout" in statuses:
        return "timed out"
    if any(message.startswith("Python stopped") for message in messages):
        return "crashed Python"
    if any(message.startswith("the code calls sys.exit()") for message in messages):
        return "calls sys.exit()"
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
        if any(result["status"] == "grader" for result in results):
            print(f"{exercise:<26}   ? / {sum(r['max'] for r in results)}\n    "
                  f"{exercise_note(results)} (not your fault: tell your instructor)", file=out)
            continue
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
    print(coverage(graded_exercises), file=out)
    return total, most


def coverage(graded_exercises):
    """What these checks cover: the public ones, and whether hidden ones count too."""
    results = [result for results in graded_exercises.values() for result in results]
    public = sum(result["max"] for result in results if result["visibility"] == "public")
    hidden = sum(result["max"] for result in results if result["visibility"] == "hidden")
    if hidden:
        return f"(public checks: {public} points; hidden checks: {hidden} points)"
    if HIDDEN.is_dir():
        return f"(public checks: {public} points; there are no hidden checks)"
    return (f"(public checks: {public} points. Hidden checks run when your instructor grades: "
            "passing every public check is a good sign, not a full mark.)")


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
                                               ("name", "points", "max", "status", "message",
                                                "visibility")}}
                     for exercise, results in graded_exercises.items() for result in results]
            record = {"student": folder.name, "total": total, "max": most, "status": status,
                      "tests": tests}
            (out_dir / f"{folder.name}.json").write_text(json.dumps(record, indent=2) + "\n",
                                                         encoding="utf-8")
    draw_histogram(totals, most, out_dir / "histogram.png")


def plotting():
    """matplotlib's pyplot, or None. Class grading loads it before any student's code runs:
    after that, the grader imports nothing that a sandbox might have written."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot
    return matplotlib.pyplot


def draw_histogram(totals, most, path):
    plt = plotting()
    if plt is None:
        print("note: no histogram, as matplotlib is not installed "
              "(pip install -r requirements.txt)", file=sys.stderr)
        return
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
    parser.add_argument("--timeout", type=float, default=PER_REQUEST_SECONDS, metavar="SECONDS",
                        help=f"time limit for each call into a student's code "
                             f"(default {PER_REQUEST_SECONDS:g})")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="students graded at once (default: twice the number of CPUs)")
    parser.add_argument("--gradescope", type=Path, metavar="FILE.zip",
                        help="write a Gradescope autograder (public and hidden tests) to FILE.zip")
    parser.add_argument("--gradescope-run", nargs=2, type=Path, metavar=("SUBMISSION", "RESULTS"),
                        help=argparse.SUPPRESS)  # what the bundle's run_autograder calls
    args = parser.parse_args(argv)
    if args.gradescope or args.gradescope_run:
        return args
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
        if args.gradescope or args.gradescope_run:
            import gradescope  # the instructor's tool: the students' copy has no need of it
        if args.gradescope:
            count = gradescope.write_bundle(args.gradescope)
            print(f"Wrote the Gradescope autograder to {args.gradescope} ({count} files): upload it "
                  "as the assignment's autograder; students submit their copy, or its .py files.")
            return 0
        if args.gradescope_run:
            submission, results = args.gradescope_run
            gradescope.run(submission, results, grade_folders, exercises, find_copy)
            return 0
        if args.student is not None:
            copy = find_copy(args.student)
            graded = grade_folders([copy], exercises, args.timeout, args.jobs, [ROOT])
            total, most = report(copy, graded[copy])
            return 0 if total == most else 1
        folders = student_folders(args.submissions)
        if args.out.resolve() in [folder.resolve() for folder in folders]:
            raise UsageError("--out must not be one of the students' folders")
        started = time.monotonic()
        plotting()  # now, before any student's code has run
        copies = {folder: copy_in(folder) for folder in folders}
        hidden = [ROOT, args.submissions.resolve(), args.out.resolve()]
        graded = grade_folders(list(copies.values()), exercises, args.timeout, args.jobs, hidden)
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
