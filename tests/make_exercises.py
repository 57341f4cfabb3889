"""Generate the students' exercises/ from the reference solutions/.

    python tests/make_exercises.py           # write exercises/ from solutions/
    python tests/make_exercises.py --check   # exit 1, naming each file, if they differ

solutions/ is the single source. In a solution, the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers) become one
``raise NotImplementedError(...)`` in the exercise, at the markers' indentation.
Everything else (imports, signatures, docstrings, set-up code) is kept, so the
student knows what to build.
"""

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
DEFINITION = re.compile(r"\s*(?:async\s+)?def\s+(\w+)")


class MarkerError(ValueError):
    """A solution whose markers do not pair up."""


def stub(source, filename="solution"):
    """The exercise made from the text of one solution."""
    lines = source.splitlines(keepends=True)
    out, begin = [], None
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker == BEGIN:
            if begin is not None:
                raise MarkerError(f"{filename}:{number}: {BEGIN} inside another")
            begin = number
            indent = line[: len(line) - len(line.lstrip())]
            name = _enclosing_function(lines[: number - 1], indent)
            out.append(f'{indent}raise NotImplementedError("{name}: yours to write")\n')
        elif marker == END:
            if begin is None:
                raise MarkerError(f"{filename}:{number}: {END} without {BEGIN}")
            begin = None
        elif begin is None:
            out.append(line)
    if begin is not None:
        raise MarkerError(f"{filename}:{begin}: {BEGIN} is never ended")
    return "".join(out)


def _enclosing_function(lines_before, indent):
    """The name of the function that a marker at ``indent`` is in, as "name()"."""
    for line in reversed(lines_before):
        found = DEFINITION.match(line)
        if found and len(line) - len(line.lstrip()) < len(indent):
            return f"{found.group(1)}()"
    return "this part"


def expected_exercises(solutions):
    """{file name: exercise text} for every solution module."""
    return {path.name: stub(path.read_text(encoding="utf-8"), path.name)
            for path in sorted(solutions.glob("ex*.py"))}


def differences(solutions, exercises):
    """The exercise files that are missing, out of date, or have no solution."""
    wanted = expected_exercises(solutions)
    found = {path.name for path in exercises.glob("ex*.py")}
    problems = [f"{name}: no solution in {solutions.name}/ for it" for name in sorted(found - set(wanted))]
    for name, text in wanted.items():
        path = exercises / name
        if not path.is_file():
            problems.append(f"{name}: missing from {exercises.name}/")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name}: differs from what {solutions.name}/{name} generates")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if exercises/ is out of date")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    parser.add_argument("--exercises", type=Path, default=ROOT / "exercises")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = differences(args.solutions, args.exercises)
            for problem in problems:
                print(f"out of date: {problem}", file=sys.stderr)
            if problems:
                print("run: python tests/make_exercises.py", file=sys.stderr)
            return 1 if problems else 0
        args.exercises.mkdir(exist_ok=True)
        for name, text in expected_exercises(args.solutions).items():
            with open(args.exercises / name, "w", encoding="utf-8", newline="\n") as file:
                file.write(text)
            print(f"wrote {args.exercises.name}/{name}")
    except MarkerError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
