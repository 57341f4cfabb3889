"""How long the grader takes for a class: time tests/grade.py on classes of 30 and 100.

    python tests/benchmark_grading.py [--sizes 30,100] [--jobs N]

Each class is made of real copies of the kit, as tests/release.py writes them:
three in five perfect (released with solutions), one in five blank, one in
five partial (the blank copy with two modules of the perfect one). The class is
graded as an instructor grades it, with every test public and hidden, and the
walls of tests/grading/isolation.py where this machine has them. It prints the
wall-clock time per class and per student; the machine is shared, so compare
runs made together. Then it times one student whose every piece loops for ever:
what a hanging submission costs the class. Last, it times interop day
(tests/grade.py CLASS --interop: every client against every server) for a
class of 30 made the same way.

    python tests/benchmark_grading.py --sizes "" --interop-sizes 30   # interop day only
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "grading"))
import isolation  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 3600


def release(target, *options):
    subprocess.run([sys.executable, str(ROOT / "tests" / "release.py"), *options, str(target)],
                   check=True, capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
    return target


def make_class(folder, size, perfect, blank):
    """``size`` student copies in ``folder``: perfect, blank and partial, in the ratio 3:1:1."""
    for number in range(size):
        student = folder / f"student{number:03d}"
        kind = ("perfect", "perfect", "perfect", "blank", "partial")[number % 5]
        shutil.copytree(perfect if kind == "perfect" else blank, student,
                        ignore=shutil.ignore_patterns(".git"))
        if kind == "partial":
            for module in ("protocol.py", "measure.py"):
                shutil.copy(perfect / "chatroom" / module, student / "chatroom" / module)


def hanging_copy(target, blank):
    """The blank copy with every stub replaced by an endless loop."""
    shutil.copytree(blank, target, ignore=shutil.ignore_patterns(".git"))
    for path in [*(target / "chatroom").glob("*.py"), *(target / "exercises").glob("*.py")]:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(
            (line[: len(line) - len(line.lstrip())] + "while True:  # hangs\n"
             + line[: len(line) - len(line.lstrip())] + "    pass\n")
            if line.lstrip().startswith('raise NotImplementedError("') else line
            for line in lines), encoding="utf-8")


def grade_class(folder, out, jobs, *options):
    command = [sys.executable, str(ROOT / "tests" / "grade.py"), str(folder), "--out", str(out),
               *options]
    if jobs:
        command += ["--jobs", str(jobs)]
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    return time.monotonic() - started


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python tests/benchmark_grading.py", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="30,100", help="class sizes, comma-separated (default 30,100)")
    parser.add_argument("--jobs", type=int, default=None, help="students graded at once (default: one per CPU)")
    parser.add_argument("--interop-sizes", default="30",
                        help="class sizes for interop day, comma-separated (default 30; \"\": none)")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size]
    interop_sizes = [int(size) for size in args.interop_sizes.split(",") if size]
    walls = "with the walls (Linux, root)" if isolation.available() else "without the walls (not root)"
    print(f"Grading time, {os.cpu_count()} CPUs, {args.jobs or 2 * os.cpu_count()} students at once, {walls}")
    with tempfile.TemporaryDirectory(prefix="grading-benchmark-") as scratch:
        scratch = Path(scratch)
        perfect = release(scratch / "perfect", "--with-solutions")
        blank = release(scratch / "blank")
        for size in sizes:
            folder = scratch / f"class{size}"
            make_class(folder, size, perfect, blank)
            seconds = grade_class(folder, scratch / f"grades{size}", args.jobs)
            print(f"class of {size:>4}: {seconds:6.1f} s  ({seconds / size:.2f} s per student)", flush=True)
            shutil.rmtree(folder)
        if sizes:
            hanging_copy(scratch / "hanging" / "looping", blank)
            seconds = grade_class(scratch / "hanging", scratch / "grades-hanging", args.jobs)
            print(f"one student whose every piece hangs: {seconds:6.1f} s", flush=True)
        for size in interop_sizes:
            folder = scratch / f"interop{size}"
            make_class(folder, size, perfect, blank)
            seconds = grade_class(folder, scratch / f"interop-out{size}", args.jobs, "--interop")
            print(f"interop day, class of {size:>4} ({size * size} pairs, "
                  f"{args.jobs or 4 * os.cpu_count()} clients at once): {seconds:6.1f} s", flush=True)
            shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
