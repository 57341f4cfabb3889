"""Grade the exercises and challenges, for one student or for a whole class.

    python tests/grade.py --student [COPY] [-k ex05]   # COPY defaults to this copy of the kit
    python tests/grade.py CLASS --out DIR               # CLASS: one copy of the kit per student
    python tests/grade.py CLASS --out DIR --only NAME   # regrade one student of DIR
    python tests/grade.py CLASS --out DIR --roster roster.csv --lms canvas   # or moodle
    python tests/grade.py --gradescope FILE.zip         # a Gradescope autograder
    python tests/grade.py CLASS --interop --out DIR     # every client against every server

A student's work is their copy of the kit: the exercises are pieces of its
chatroom/ package, the challenges are files in its exercises/. The judge
(tests/judge.py) grades each copy in a pytest process of its own that never
imports the student's code: the code runs in sandboxes, isolated as far as
the system allows (tests/grading/isolation.py), and answers with plain data.
Every test of tests/grading/test_*.py (public: they ship in the students'
copy) and tests/grading/hidden/ (only here and in the Gradescope bundle) has
its points; a copy earns the points of the tests it passes.

A student sees the walls their code ran behind, points per exercise, what the
public checks cover, and for each test that did not pass, a message written
for them. For a class (a folder of copies or zips, found as tests/submissions.py
says), an instructor gets the reports of tests/reports.py in DIR, written by
this process alone, once every student process has ended.
"""

import argparse
import ast
import os
import queue
import re
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import judge
import submissions

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


def grade_folders(folders, exercises, per_request=PER_REQUEST_SECONDS, jobs=None, hidden=(),
                  progress=None):
    """{folder: {exercise: results}} for every folder, several students at once;
    ``progress(done)`` is called as each student is done.

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
            running = {pool.submit(grade_one, folder): folder for folder in folders}
            graded = {}
            for done, finished in enumerate(as_completed(running), 1):
                graded[running[finished]] = finished.result()
                if progress:
                    progress(done)
            return {folder: graded[folder] for folder in folders}
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
    missed = [result for result in results if result["status"] != "passed"]
    if not missed:
        return None
    needs = sorted({found.group(1) for result in missed
                    for found in [re.match(r"needs (.+?) first", result["message"])] if found})
    if needs and all(result["message"].startswith("needs ") or result["status"] == "not attempted"
                     for result in missed):
        return f"needs {' and '.join(needs)} first"
    counts = Counter(result["status"] for result in missed)
    return (f"{len(missed)} of {len(results)} tests not passed ("
            + ", ".join(f"{count} {status}" for status, count in counts.items()) + ")")


def summary(graded_exercises):
    """(points per exercise, total, max, status) for one student."""
    points = {exercise: sum(result["points"] for result in results)
              for exercise, results in graded_exercises.items()}
    most = sum(result["max"] for results in graded_exercises.values() for result in results)
    notes = [f"{exercise}: {note}" for exercise, results in graded_exercises.items()
             for note in [exercise_note(results)] if note]
    return points, sum(points.values()), most, "; ".join(notes) or "ok"


# -- one student --------------------------------------------------------------

def walls_in_short(level):
    """The walls in a few words, for the student's first line (isolation.describe says more)."""
    return ": ".join(judge.isolation.describe(level).split(": ")[:2])


def report(folder, graded_exercises, walls, out=sys.stdout):
    """Print the walls, points per exercise and, for each test that did not pass, why."""
    points, total, most, _ = summary(graded_exercises)
    print(f"Grading {shown(folder)} ({walls_in_short(walls)})\n", file=out)
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


def find_copy(folder):
    """The copy of the kit in ``folder``, or found below it (tests/submissions.py)."""
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    copies = submissions.find_copies(folder)
    if not copies:
        raise UsageError(f"{folder} is not a copy of the kit: it has no chatroom/ folder")
    copy, note = submissions.choose(copies, folder)
    if note:
        print(note, file=sys.stderr)  # say where we looked
    return copy


# -- a class ------------------------------------------------------------------

def student_record(name, graded_exercises, walls, found, is_copy=True):
    """What grade.py writes of one student (DIR/<student>.json), every report's source."""
    _, total, most, status = summary(graded_exercises)
    if not is_copy:  # every piece is missing: say why first
        status = f"no copy of the kit: {found}"
    tests = [{"exercise": exercise, **{key: result[key] for key in
                                       ("name", "points", "max", "status", "message", "visibility")}}
             for exercise, results in graded_exercises.items() for result in results]
    return {"student": name, "total": total, "max": most, "status": status, "walls": walls,
            "found": found, "tests": tests}


def progress_line(total, started, out=sys.stderr):
    """A function that says, as each student is done, how many are and how long is left."""
    def show(done):
        line = f"Graded {done}/{total} {'student' if total == 1 else 'students'}"
        if done < total:
            left = (time.monotonic() - started) / done * (total - done)
            line += f", about {left:.0f} s left" if left < 90 else f", about {left / 60:.0f} min left"
        print(line, file=out, flush=True)
    return show


def grade_class(args, exercises):
    """Grade every student of args.submissions (or args.only) into args.out; the exit code."""
    import reports  # beside this file
    if args.out.resolve() == args.submissions.resolve():
        raise UsageError("--out must be another folder than the class's")
    try:  # a roster or an --out it cannot use: said before any grading, not after
        if args.lms:
            reports.read_roster(args.roster)
        if args.only is not None:
            reports.load_records(args.out)
    except reports.ReportError as problem:
        raise UsageError(str(problem)) from None
    entries = submissions.students(args.submissions, leave_out=[args.out])
    if not entries:
        raise UsageError(f"{args.submissions} holds no student folders (one folder or zip per student)")
    if args.only is not None:
        if args.only not in entries:
            raise UsageError(f"{args.only!r} is not a student of {args.submissions}: "
                             f"they are {', '.join(list(entries)[:10])}")
        entries = {args.only: entries[args.only]}
    walls = judge.isolation.walls()
    print(judge.isolation.describe(walls), flush=True)
    started = time.monotonic()
    reports.plotting()  # now, before any student's code has run
    with tempfile.TemporaryDirectory(prefix="grade-class-") as scratch:
        located = {}
        for number, (name, entry) in enumerate(entries.items()):
            place = Path(scratch) / str(number)
            place.mkdir()
            located[name] = submissions.locate(entry, place)
            if located[name][1]:
                print(f"{name}: {located[name][1]}", file=sys.stderr)
        hidden = [ROOT, args.submissions.resolve(), args.out.resolve(), Path(scratch)]
        graded = grade_folders([copy for copy, _, _ in located.values()], exercises, args.timeout,
                               args.jobs, hidden, progress_line(len(located), started))
    records = [student_record(name, graded[copy], walls, found, is_copy)
               for name, (copy, found, is_copy) in located.items()]
    try:
        left_out = reports.write_class(args.out, records, exercises, walls, args.only is not None,
                                       args.roster, args.lms, args.assignment)
    except reports.ReportError as problem:
        raise UsageError(str(problem)) from None
    count = f"{len(records)} {'student' if len(records) == 1 else 'students'}"
    print(f"Graded {count} in {time.monotonic() - started:.0f} s into {args.out}: grades.csv, "
          "a JSON file per student, feedback/, exercises.csv, histogram.png, exercises.png"
          + (f", {args.lms}.csv" if args.lms else ""))
    if left_out:
        print(left_out)
    return 0


def run_interop_day(args):
    """Run every student's client against every student's server (tests/interop_day.py)."""
    import interop_day  # beside this file
    if args.out.resolve() == args.submissions.resolve():
        raise UsageError("--out must be another folder than the class's")
    try:
        return interop_day.run(args.submissions, args.out, args.jobs)
    except interop_day.InteropError as problem:
        raise UsageError(str(problem)) from None


# -- the command line ---------------------------------------------------------

def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="python tests/grade.py",
        description="Grade the exercises: for one student (--student) or a class (SUBMISSIONS --out DIR).")
    parser.add_argument("submissions", nargs="?", type=Path,
                        help="a folder with one copy of the kit per student (a folder or a .zip), "
                             "named after the student")
    parser.add_argument("--out", type=Path, help="where to write grades.csv and the other reports")
    parser.add_argument("--student", nargs="?", type=Path, const=ROOT, metavar="COPY",
                        help="grade one copy of the kit and show why each test failed (default: this one)")
    parser.add_argument("-k", dest="pattern", default="", metavar="EXERCISE",
                        help="grade only the exercises whose name contains this, e.g. ex05 or ch2; "
                             "several, with commas: ex05,ex06")
    parser.add_argument("--only", metavar="NAME",
                        help="regrade only this student of SUBMISSIONS into the existing --out")
    parser.add_argument("--roster", type=Path, metavar="FILE.csv",
                        help="folder names to LMS ids: columns folder, name, id, sis_user_id, "
                             "sis_login_id, section, email, idnumber, username (any of them)")
    parser.add_argument("--lms", choices=("canvas", "moodle"),
                        help="also write DIR/canvas.csv or DIR/moodle.csv to import (needs --roster)")
    parser.add_argument("--assignment", default="Chat room", metavar="NAME",
                        help="the gradebook's column for the total (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=PER_REQUEST_SECONDS, metavar="SECONDS",
                        help=f"time limit for each call into a student's code "
                             f"(default {PER_REQUEST_SECONDS:g})")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="students graded at once (default: twice the number of CPUs; "
                             "with --interop, clients at once, default four times)")
    parser.add_argument("--hint", type=int, metavar="N",
                        help="show hint N (1, 2, 3) for the exercise chosen with -k, instead of grading")
    parser.add_argument("--interop", action="store_true",
                        help="interop day: run every student's client against every student's "
                             "server, into DIR/interop.csv and DIR/interop.png")
    parser.add_argument("--gradescope", type=Path, metavar="FILE.zip",
                        help="write a Gradescope autograder (public and hidden tests) to FILE.zip")
    parser.add_argument("--gradescope-run", nargs=2, type=Path, metavar=("SUBMISSION", "RESULTS"),
                        help=argparse.SUPPRESS)  # what the bundle's run_autograder calls
    args = parser.parse_args(argv)
    if args.gradescope or args.gradescope_run:
        return args
    if args.submissions is None and args.student is None:
        args.student = ROOT  # no arguments: a student grading their own copy
    if args.interop and args.submissions is None:
        raise UsageError("--interop runs a class: python tests/grade.py CLASS --interop --out DIR")
    if args.submissions is not None and args.student is not None:
        raise UsageError("give either --student [FOLDER] or SUBMISSIONS --out DIR, not both")
    if args.submissions is not None and args.out is None:
        raise UsageError("grading a class needs --out DIR, where the reports go")
    if args.submissions is not None and not args.submissions.is_dir():
        raise UsageError(f"{args.submissions} is not a folder")
    if args.timeout <= 0 or (args.jobs is not None and args.jobs < 1):
        raise UsageError("--timeout and --jobs must be positive")
    if args.lms and args.roster is None:
        raise UsageError("--lms needs --roster FILE.csv, which maps folder names to the LMS's ids")
    if args.only is not None and args.pattern:
        raise UsageError("--only regrades every exercise of DIR/grades.csv: leave out -k")
    return args


def chosen_exercises(args):
    """The exercises to grade: those matching -k, or with --only those of DIR/grades.csv."""
    names = list(catalog())
    if args.submissions is not None and args.only is not None:
        import reports
        if not (args.out / "grades.csv").is_file():
            raise UsageError(f"--only regrades one student into a class graded before, but "
                             f"{args.out} holds no grades.csv")
        columns = reports.graded_columns(args.out)
        unknown = [name for name in columns if name not in names]
        if unknown:
            raise UsageError(f"{args.out}/grades.csv has exercises this kit no longer has "
                             f"({', '.join(unknown)}): grade the whole class again")
        return columns
    words = [word.strip() for word in args.pattern.split(",")]
    chosen = [name for name in names if any(word in name for word in words)]
    if not chosen:
        raise UsageError(f"no exercise matches {args.pattern!r}; the exercises are {', '.join(names)}")
    return chosen


def show_hint(pattern, number):
    """Print hint ``number`` of the one exercise that -k chose (tests/grading/hints.py)."""
    import hints  # in tests/grading, which judge puts on the path
    if not pattern:
        raise UsageError("--hint needs the exercise: add -k ex06, for example")
    chosen = [name for name in catalog() if pattern in name]
    if len(chosen) != 1:
        raise UsageError(f"--hint is for one exercise, and -k {pattern!r} chooses "
                         f"{', '.join(chosen) or 'none'}: say -k ex06, for example")
    try:
        print("\n".join(hints.show(chosen[0], number)))
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    return 0


def main(argv=None):
    try:
        args = parse_arguments(argv)
        if args.hint is not None:
            return show_hint(args.pattern, args.hint)
        if args.interop:
            return run_interop_day(args)
        exercises = chosen_exercises(args)
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
            total, most = report(copy, graded[copy], judge.isolation.walls())
            return 0 if total == most else 1
        return grade_class(args, exercises)
    except UsageError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grading interrupted; nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
