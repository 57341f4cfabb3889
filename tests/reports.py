"""The class's reports, written by tests/grade.py once every student's code has ended.

Each student's grading is a record, the content of DIR/<student>.json:
    {"student", "total", "max", "status", "walls", "found", "tests": [{"exercise", "name",
     "points", "max", "status", "message", "visibility"}, ...]}
Everything else is made from the records, so that one student regraded (--only)
refreshes the class's files from the JSON of the others:
    grades.csv            one row per student: points per exercise, total, max, status
    histogram.png         the class's totals
    exercises.csv/.png    per exercise: mean, share of zeros and of full marks, most-failed test
    feedback/<student>.md what the student may read: no hidden check's name or message
    walls.txt             the walls the students' code ran behind
    canvas.csv/moodle.csv a gradebook to import, with --roster and --lms
"""

import csv
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "grading"))
import isolation  # noqa: E402

GRADER = "grader"  # a test the grader could not run: never the student's 0


class ReportError(Exception):
    """A report that cannot be written as asked; ``str()`` is the one-line message."""


def plural(count, noun):
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def points_by_exercise(record):
    """{exercise: points} of one record, in the order of its tests."""
    points = {}
    for test in record["tests"]:
        points[test["exercise"]] = points.get(test["exercise"], 0) + test["points"]
    return points


def not_graded(record):
    """True when the grader could not run some of this student's tests: their total is not
    a grade, and no gradebook gets it."""
    return any(test["status"] == GRADER for test in record["tests"])


# -- grades.csv and the JSON records -----------------------------------------------

def write_record(out, record):
    (out / f"{record['student']}.json").write_text(json.dumps(record, indent=2) + "\n",
                                                    encoding="utf-8")


def load_records(out):
    """{student: record} from a class already graded into ``out`` (grades.csv and the JSON)."""
    table = out / "grades.csv"
    if not table.is_file():
        raise ReportError(f"{out} holds no grades.csv: grade the whole class into it first")
    with open(table, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    records = {}
    for row in rows:
        path = out / f"{row['student']}.json"
        if not path.is_file():
            raise ReportError(f"{path} is missing: grade the whole class again")
        records[row["student"]] = json.loads(path.read_text(encoding="utf-8"))
    return records


def graded_columns(out):
    """The exercise columns of ``out``'s grades.csv."""
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        header = next(csv.reader(file), [])
    return header[1:-3]  # student, ..., total, max, status


def write_grades(out, records, exercises):
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["student", *exercises, "total", "max", "status"])
        for record in records:
            points = points_by_exercise(record)
            writer.writerow([record["student"], *(points.get(exercise, "") for exercise in exercises),
                             record["total"], record["max"], record["status"]])


def write_class(out, new_records, exercises, walls, keep_others=False, roster=None, lms=None,
                assignment="Chat room"):
    """Write every report of the class into ``out``; with ``keep_others``, the records of
    the students not in ``new_records`` are those already in ``out``. Returns the LMS note."""
    out.mkdir(parents=True, exist_ok=True)
    everyone = load_records(out) if keep_others else {}
    for record in new_records:
        everyone[record["student"]] = record
        write_record(out, record)
        write_feedback(out, record)
    records = [everyone[name] for name in sorted(everyone)]
    write_grades(out, records, exercises)
    (out / "walls.txt").write_text(isolation.describe(walls) + "\n", encoding="utf-8")
    rows = exercise_table(records, exercises)
    write_exercise_table(rows, out / "exercises.csv")
    plt = plotting()
    if plt is None:
        print("note: no figures, as matplotlib is not installed (pip install -r requirements.txt)",
              file=sys.stderr)
    else:
        draw_histogram(plt, records, out / "histogram.png")
        draw_exercises(plt, rows, out / "exercises.png")
    if lms:
        return write_gradebook(lms, records, read_roster(roster), out / f"{lms}.csv", assignment)
    return None


# -- figures ---------------------------------------------------------------------

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


def draw_histogram(plt, records, path):
    figure = histogram(plt, records)
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)


def histogram(plt, records):
    """The figure of the class's totals (students whose grading the grader could not finish
    are not counted)."""
    from matplotlib.ticker import MaxNLocator
    totals = [record["total"] for record in records if not not_graded(record)]
    most = max((record["max"] for record in records), default=0)
    figure, axes = plt.subplots(figsize=(6, 3.5))
    bins = range(0, most + 2) if most <= 60 else 30
    axes.hist(totals, bins=bins, align="left", rwidth=0.9, range=(0, most + 1))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # whole students only
    axes.set_xlabel(f"total points (out of {most})")
    axes.set_ylabel("students")
    axes.set_title(f"Class totals, {plural(len(totals), 'student')}")
    figure.tight_layout()
    return figure


def exercise_table(records, exercises):
    """Per exercise: its worth, the students graded on it, their mean, the shares at zero and
    at full marks, and the test that most of them did not pass (with how many)."""
    rows = []
    for exercise in exercises:
        earned, worth, missed = [], 0, Counter()
        order = []
        for record in records:
            tests = [test for test in record["tests"] if test["exercise"] == exercise]
            if not tests or any(test["status"] == GRADER for test in tests):
                continue  # not graded on it: neither a zero nor a mark
            worth = sum(test["max"] for test in tests)
            earned.append(sum(test["points"] for test in tests))
            for test in tests:
                if test["name"] not in order:
                    order.append(test["name"])
                if test["status"] != "passed":
                    missed[test["name"]] += 1
        count = len(earned)
        worst = max(order, key=lambda name: missed[name], default="") if missed else ""
        rows.append({"exercise": exercise, "max": worth, "students": count,
                     "mean": round(sum(earned) / count, 1) if count else "",
                     "share_zero": round(earned.count(0) / count, 2) if count else "",
                     "share_full": round(sum(1 for points in earned if points == worth and worth)
                                         / count, 2) if count else "",
                     "most_failed_test": worst, "failed_by": missed[worst] if worst else 0})
    return rows


def write_exercise_table(rows, path):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=["exercise", "max", "students", "mean", "share_zero",
                                                  "share_full", "most_failed_test", "failed_by"])
        writer.writeheader()
        writer.writerows(rows)


def draw_exercises(plt, rows, path):
    """One bar per exercise: the share of students at full marks, part marks and zero."""
    rows = [row for row in rows if row["students"]][::-1]  # the first exercise on top
    figure, axes = plt.subplots(figsize=(7, 0.4 * len(rows) + 1.8))
    names = [f"{row['exercise']} (mean {row['mean']:g}/{row['max']})" for row in rows]
    full = [row["share_full"] for row in rows]
    zero = [row["share_zero"] for row in rows]
    part = [max(0.0, 1 - f - z) for f, z in zip(full, zero)]
    axes.barh(names, full, color="#2e7d32", label="full marks")
    axes.barh(names, part, left=full, color="#f9a825", label="part marks")
    axes.barh(names, zero, left=[f + p for f, p in zip(full, part)], color="#b0bec5", label="zero")
    axes.set_xlim(0, 1)
    axes.set_xlabel("share of the students graded")
    axes.set_title("Each exercise across the class")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(rows) < 4 else -0.12),
                ncol=3, fontsize=8, frameon=False)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)


# -- what a student may read ---------------------------------------------------------

def feedback(record):
    """The student's feedback, in Markdown: points per exercise, each public check that did
    not pass with its sentence, and the hidden checks as a count and points only."""
    lines = [f"# Your grade: {record['total']} / {record['max']}", ""]
    if not_graded(record):
        lines += ["Some checks could not be run by the grader (not your fault): your instructor "
                  "will grade them again.", ""]
    lines += ["| exercise | points |", "| --- | --- |"]
    by_exercise = {}
    for test in record["tests"]:
        by_exercise.setdefault(test["exercise"], []).append(test)
    for exercise, tests in by_exercise.items():
        lines.append(f"| {exercise} | {sum(t['points'] for t in tests)} / "
                     f"{sum(t['max'] for t in tests)} |")
    for exercise, tests in by_exercise.items():
        details = exercise_feedback(tests)
        if details:
            lines += ["", f"## {exercise}", "", *details]
    lines += ["", "---", ""]
    if record.get("found"):
        lines.append(f"Your submission: {record['found']}.  ")
    lines.append(f"How your code was run: {isolation.describe(record['walls'])}.")
    return "\n".join(lines) + "\n"


def exercise_feedback(tests):
    """The lines on one exercise: its public checks that did not pass, then its hidden ones."""
    public = [test for test in tests if test["visibility"] == "public"]
    hidden = [test for test in tests if test["visibility"] != "public"]
    missed = [test for test in public if test["status"] != "passed"]
    lines = []
    if missed and len(missed) == len(public) and all(t["status"] == "not attempted" for t in missed):
        lines.append(f"- not attempted: {missed[0]['message']}")
    else:
        for test in missed:
            blame = " (not your fault)" if test["status"] == GRADER else ""
            lines.append(f"- `{test['name']}` ({plural(test['max'], 'point')}), {test['status']}"
                         f"{blame}: {test['message']}")
    passed = [test for test in hidden if test["status"] == "passed"]
    if len(passed) < len(hidden):  # their names and messages would give the checks away
        lines.append(f"- hidden checks: {len(passed)} of {len(hidden)} passed "
                     f"({sum(t['points'] for t in hidden)} of "
                     f"{plural(sum(t['max'] for t in hidden), 'point')})")
    return lines


def write_feedback(out, record):
    folder = out / "feedback"
    folder.mkdir(exist_ok=True)
    (folder / f"{record['student']}.md").write_text(feedback(record), encoding="utf-8")


# -- gradebooks ------------------------------------------------------------------------

ROSTER_COLUMNS = ("folder", "name", "id", "sis_user_id", "sis_login_id", "section", "email",
                  "idnumber", "username")


def read_roster(path):
    """{folder name: {column: value}} from the roster CSV: a header with ``folder`` (the
    student's folder or zip in the class folder) and any of ROSTER_COLUMNS."""
    if path is None:
        raise ReportError("--lms needs --roster FILE.csv (folder, name, and the LMS's ids)")
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:  # Excel writes a BOM
            rows = list(csv.DictReader(file))
    except OSError as problem:
        raise ReportError(f"cannot read the roster {path}: {problem.strerror}") from None
    rows = [{(key or "").strip().lower(): (value or "").strip() for key, value in row.items()}
            for row in rows]
    if not rows or "folder" not in rows[0]:
        raise ReportError(f"the roster {path} needs a header row with a 'folder' column "
                          f"(and any of {', '.join(ROSTER_COLUMNS[1:])})")
    return {row["folder"]: row for row in rows if row["folder"]}


def write_gradebook(lms, records, roster, path, assignment):
    """Write the gradebook ``lms`` imports as it is; return a sentence on who was left out.

    Canvas (Grades, Import): the columns Student, ID, SIS User ID, SIS Login ID, Section,
    then one column per assignment, named as in Canvas ("Chat room (1234)" to update an
    existing one, a new name to create it); a row is matched by ID or SIS ids. Source:
    Instructure's guide "How do I import grades in the Gradebook?" and its example file.
    Moodle (Grades, Import, CSV file): any columns; on import, "Identify user by" maps
    one of Email address, ID number or Username to the user, and the grade column to a grade
    item. An unknown or blank user aborts the whole import, so such rows are left out.
    Source: Moodle docs "Grade import", grade/import/csv/classes/load_data.php.
    A student whose grading hit a grader fault, or who is not in the roster, is left out:
    the LMS keeps what it had rather than get a 0 that was never earned.
    """
    graded = {record["student"]: record for record in records}
    left_out = {"not in the roster": sorted(set(graded) - set(roster)),
                "no submission": sorted(set(roster) - set(graded)),
                "the grader could not run": sorted(name for name, record in graded.items()
                                                   if name in roster and not_graded(record))}
    rows = [(roster[name], graded[name]["total"]) for name in sorted(graded)
            if name in roster and not not_graded(graded[name])]
    if lms == "canvas":
        header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment]
        keys = ("name", "id", "sis_user_id", "sis_login_id", "section")
        unusable = [person for person, _ in rows if not any(person.get(key) for key in keys[1:4])]
    else:
        identifiers = [key for key in ("email", "idnumber", "username")
                       if any(person.get(key) for person, _ in rows)]
        if not identifiers:
            raise ReportError("a Moodle gradebook needs an 'email', 'idnumber' or 'username' "
                              "column in the roster, to identify each student")
        labels = {"email": "Email address", "idnumber": "ID number", "username": "Username"}
        header = ["Full name", *(labels[key] for key in identifiers), assignment]
        keys = ("name", *identifiers)
        unusable = [person for person, _ in rows if not all(person.get(key) for key in identifiers)]
    if unusable:
        left_out["no id in the roster"] = sorted(person["folder"] for person in unusable)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for person, total in rows:
            if person not in unusable:
                writer.writerow([*(person.get(key, "") for key in keys), total])
    reasons = [f"{why}: {', '.join(names)}" for why, names in left_out.items() if names]
    return f"left out of {path.name}: " + "; ".join(reasons) if reasons else None
