"""Write the students' copy of the kit.

    python tests/release.py DIR                   # the copy students get
    python tests/release.py --with-solutions DIR  # the same copy, with the answers in place

The copy holds the lessons (with their helper modules, pictures and the packet
captures stored in notebooks/captures/), the chatroom package, the challenges
(exercises/), the grader and its public tests, and a README of its own. Every marked answer
(``### BEGIN SOLUTION`` ... ``### END SOLUTION``) in the package, the challenges
and the lessons' code cells becomes one stub line that names its exercise,
such as ``raise NotImplementedError("exercise 2 (lesson 2): LineBuffer.feed")``.
There is no solutions/, no hidden test, and none of the instructor's tools.
The lessons' stored outputs are cleared: the student runs each lesson.

``--with-solutions`` keeps each answer and drops only its markers: the copy
then scores full marks, which tests the copy end to end, and self-learners
can compare. DIR must be new or empty; the copy is a fresh git repository.
"""

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from answers import BEGIN, END, ROOT, lesson_stub, replace_answers, stubbed

STUDENTS_README = ROOT / "tests" / "students_readme.md"
PUBLIC_TESTS = ROOT / "tests" / "grading"
NOT_SHIPPED = {"hidden", "__pycache__", ".pytest_cache"}
CLASSROOM_HEAD = """# GitHub Classroom: every push runs the public checks of this copy, one step per exercise
# and per challenge, as `python tests/grade.py --student -k NAME` does on your machine. A
# step earns its points when every public check of that exercise passes (its exit code is 0).
# The reporter sends the points to Classroom (a notice "Points X/Y"). It marks its own step
# failed while some exercise is unfinished; continue-on-error keeps such a push green, since
# work in progress is not a failure. Written by tests/release.py: do not edit by hand.
name: Autograding Tests
"on": [push, workflow_dispatch, repository_dispatch]
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: {job_minutes}
    steps:
      - uses: actions/checkout@v5
      - uses: actions/setup-python@v6
        with:
          python-version: "3.12"
      - name: Install the grader's needs
        run: python -m pip install {needs}
"""
CLASSROOM_STEP = """      - name: {exercise}
        id: {exercise}
        uses: classroom-resources/autograding-command-grader@v1
        with:
          test-name: {exercise}
          command: python tests/grade.py --student -k {exercise}
          timeout: {minutes}
          max-score: {points}
"""
CLASSROOM_REPORTER = """      - name: Autograding Reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        continue-on-error: true
        env:
{env}        with:
          runners: {runners}
"""
STEP_MINUTES = 5  # one exercise's checks take seconds; a hanging piece costs one deadline
JOB_MINUTES = 30  # the whole check takes a minute or two: GitHub's minutes are the students'


def classroom_workflow(catalog):
    """.github/workflows/classroom.yml: one grader step per exercise and per challenge of
    ``catalog`` (grade.catalog()), each worth its public checks' points, then the reporter.

    Classroom reads the scores of a workflow named "Autograding Tests" whose one job is
    "run-autograding-tests" (classroom-resources/autograding-grading-reporter's README).
    """
    from judge import NEEDS  # beside this file
    steps = [CLASSROOM_STEP.format(exercise=exercise, minutes=STEP_MINUTES,
                                   points=sum(points for _, points, visibility, _ in tests
                                              if visibility == "public"))
             for exercise, tests in catalog.items()]
    env = "".join(f'          {exercise.upper()}_RESULTS: "${{{{steps.{exercise}.outputs.result}}}}"\n'
                  for exercise in catalog)
    return (CLASSROOM_HEAD.format(job_minutes=JOB_MINUTES, needs=" ".join(NEEDS))
            + "".join(steps) + CLASSROOM_REPORTER.format(env=env, runners=",".join(catalog)))


STUDENTS_PYTEST = """[tool.pytest.ini_options]
# In the students' copy, `python -m pytest` runs the public checks of every exercise on this copy.
# `python tests/grade.py --student` runs the same checks, one exercise at a time, with points.
testpaths = ["tests/grading"]
addopts = "-p no:cacheprovider -p no:nbval"
markers = ["points(n): what the test is worth in the grade"]
timeout = 5
"""


class ReleaseError(Exception):
    """Why the copy cannot be written; ``str()`` is the one-line message."""


def write_copy(target, with_solutions=False):
    """Write the students' copy of this kit into ``target``; return the files written."""
    keep = None if with_solutions else "stub"
    written = []

    def put(relative, text):
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(relative)

    for path in sorted((ROOT / "chatroom").glob("*.py")):
        put(f"chatroom/{path.name}", _answer(path, keep))
    for path in sorted((ROOT / "solutions").glob("*.py")):
        put(f"exercises/{path.name}", _answer(path, keep))
    for path in sorted((ROOT / "notebooks").iterdir()):
        if path.suffix == ".ipynb":
            put(f"notebooks/{path.name}", lesson(path, with_solutions))
        elif path.suffix == ".py":
            put(f"notebooks/{path.name}", path.read_text(encoding="utf-8"))
        elif path.suffix == ".png":
            (target / "notebooks").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / "notebooks" / path.name)
    for path in sorted((ROOT / "notebooks" / "captures").glob("*.json")):  # packets.py's
        put(f"notebooks/captures/{path.name}", path.read_text(encoding="utf-8"))  # stored ones
    for path in sorted(PUBLIC_TESTS.rglob("*")):
        relative = path.relative_to(ROOT)
        if path.is_file() and not NOT_SHIPPED & set(relative.parts):
            put(relative.as_posix(), path.read_text(encoding="utf-8"))
    for tool in ("grade.py", "judge.py", "submissions.py", "reports.py",  # the grader, whole
                 "interop_day.py", "interop_network.py"):
        put(f"tests/{tool}", (ROOT / "tests" / tool).read_text(encoding="utf-8"))
    put("README.md", STUDENTS_README.read_text(encoding="utf-8"))
    put("PROTOCOL.md", (ROOT / "PROTOCOL.md").read_text(encoding="utf-8"))  # for interop day
    put("requirements.txt", (ROOT / "requirements.txt").read_text(encoding="utf-8"))
    put("pyproject.toml", students_pyproject())
    put(".gitignore", (ROOT / ".gitignore").read_text(encoding="utf-8"))
    put(".github/workflows/classroom.yml", classroom_workflow(public_catalog()))
    if not with_solutions:
        leftover = [name for name in written if name.endswith((".py", ".ipynb"))
                    and BEGIN in (target / name).read_text(encoding="utf-8")]
        if leftover:
            raise ReleaseError(f"answers left in the copy: {', '.join(leftover)}")
    return written


def public_catalog():
    """grade.catalog() as the students' copy has it: its public tests only."""
    from grade import catalog  # beside this file
    return {exercise: [test for test in tests if test[2] == "public"]
            for exercise, tests in catalog().items()}


def _answer(path, keep):
    if keep == "stub":
        return stubbed(path)
    return replace_answers(path.read_text(encoding="utf-8"), path.name, None)


def lesson(path, with_solutions):
    """One lesson as the students get it: answers stubbed, outputs cleared."""
    notebook = nbformat.read(path, as_version=4)
    number = int(re.match(r"\d+", path.name).group())
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if BEGIN in cell.source or END in cell.source:
            stub = None if with_solutions else lesson_stub(number)
            cell.source = replace_answers(cell.source, path.name, stub).rstrip("\n")
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    return nbformat.writes(notebook) + "\n"


def students_pyproject():
    """This kit's pyproject.toml, with a pytest section that runs the public checks."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    start = text.index("[tool.pytest.ini_options]")
    following = text.find("\n[", start + 1)
    return text[:start] + STUDENTS_PYTEST + (text[following + 1:] if following >= 0 else "")


def make_repository(target):
    """A fresh git repository holding the copy, when git is installed."""
    if shutil.which("git") is None:
        return "no git here: the copy is a plain folder"
    author = ["-c", "user.name=chatroom kit", "-c", "user.email=kit@example.invalid",
              "-c", "commit.gpgsign=false"]
    for command in (["init", "-q"], ["add", "-A"],
                    [*author, "commit", "-q", "-m", "The chatroom kit, as released to students"]):
        subprocess.run(["git", *command], cwd=target, check=True, capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    return "a fresh git repository"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python tests/release.py",
                                     description="Write the students' copy of the kit into DIR.")
    parser.add_argument("dir", type=Path, help="where to write the copy (new or empty)")
    parser.add_argument("--with-solutions", action="store_true",
                        help="keep the answers (for testing the copy, or for self-learners)")
    args = parser.parse_args(argv)
    try:
        if args.dir.exists() and (not args.dir.is_dir() or any(args.dir.iterdir())):
            raise ReleaseError(f"{args.dir} already exists and is not empty: "
                               "choose a new folder, so that nothing is overwritten")
        args.dir.mkdir(parents=True, exist_ok=True)
        written = write_copy(args.dir, args.with_solutions)
        repository = make_repository(args.dir)
    except (ReleaseError, OSError, subprocess.SubprocessError, ValueError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    kind = "with the answers in place" if args.with_solutions else "without the answers"
    print(f"Wrote the students' copy, {kind}, to {args.dir} ({len(written)} files; {repository}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
