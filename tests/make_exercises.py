"""Write the challenges' stubs, exercises/, from their reference answers, solutions/.

    python tests/make_exercises.py           # write exercises/ from solutions/
    python tests/make_exercises.py --check   # exit 1, naming each file, if they differ

solutions/ is the single source: in each file, the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` become one
``raise NotImplementedError("challenge N: Name")``; everything else (imports,
signatures, docstrings) is kept, so the student knows what to build. This is
an instructor's tool: the students' copy does not have it (tests/release.py).
"""

import argparse
import sys

from answers import ROOT, stubbed

SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"


def expected():
    """{file name: the stub's text} for every challenge in solutions/."""
    return {path.name: stubbed(path) for path in sorted(SOLUTIONS.glob("ch*.py"))}


def stale():
    """The names of the exercise files that differ from what solutions/ gives, or are extra."""
    wanted = expected()
    found = {path.name for path in EXERCISES.glob("*.py")}
    return sorted(name for name in wanted.keys() | found
                  if name not in wanted or name not in found
                  or (EXERCISES / name).read_text(encoding="utf-8") != wanted[name])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python tests/make_exercises.py", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that exercises/ is up to date")
    args = parser.parse_args(argv)
    if args.check:
        names = stale()
        for name in names:
            print(f"exercises/{name} is out of date: run python tests/make_exercises.py")
        return 1 if names else 0
    EXERCISES.mkdir(exist_ok=True)
    for name, text in expected().items():
        (EXERCISES / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(expected())} files to exercises/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
