"""Gradescope: the autograder bundle, and what it runs there.

    python tests/grade.py --gradescope autograder.zip      # write the bundle, upload it

The bundle holds setup.sh and run_autograder (Gradescope's two entry points),
the grader with its public AND hidden tests, and blank/, the students' copy as
released. Gradescope unpacks it into /autograder/source, runs setup.sh once,
and for each submission runs run_autograder, which calls

    python3 tests/grade.py --gradescope-run /autograder/submission /autograder/results/results.json

A student may submit their whole copy (a zip of the folder, at any depth) or
only the files they edit: each .py file whose name is one of blank/chatroom/'s
or blank/exercises/' then replaces the blank one. The results file follows
Gradescope's format: a score, and one test per check with its name, score,
max_score, output and visibility; hidden checks are "after_published".
"""

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

from judge import NEEDS, isolation

ROOT = Path(__file__).resolve().parents[1]
SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the image the submissions are graded in.
# It installs, saying so as it goes:
#   with apt-get: python3 (3.9 or newer) and python3-pip, the image's own; util-linux, whose
#                 unshare and setpriv raise the sandbox's walls
#   with pip:     {needs}, the judge's only needs, pinned
set -euo pipefail
echo "setup.sh: apt-get install python3 python3-pip util-linux"
apt-get update -qq
apt-get install -y -qq python3 python3-pip util-linux >/dev/null
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else
    "setup.sh: the grader needs Python 3.9 or newer; this image has " + sys.version.split()[0])'
echo "setup.sh: pip install {needs}"
python3 -m pip install --quiet {needs} \\
  || python3 -m pip install --quiet --break-system-packages {needs}
echo "setup.sh: installed $(python3 --version), $(python3 -m pytest --version 2>&1 | head -1)"
""".format(needs=" ".join(NEEDS))
RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT and PYTHON exist for testing it elsewhere.
set -u
root="${AUTOGRADER_ROOT:-/autograder}"
mkdir -p "$root/results"
cd "$root/source" && exec "${PYTHON:-python3}" tests/grade.py --gradescope-run \\
  "$root/submission" "$root/results/results.json"
"""


def write_bundle(target):
    """Write the Gradescope autograder zip to ``target``; return the number of files in it."""
    import release  # the instructor's tool, beside this one
    with tempfile.TemporaryDirectory(prefix="gradescope-") as scratch:
        blank = Path(scratch) / "blank"
        release.write_copy(blank)
        files = {"setup.sh": SETUP, "run_autograder": RUN}
        for path in sorted((ROOT / "tests" / "grading").rglob("*.py")) + [
                ROOT / "tests" / "grading" / "pytest.ini", ROOT / "tests" / "grade.py",
                ROOT / "tests" / "judge.py", ROOT / "tests" / "gradescope.py",
                ROOT / "tests" / "submissions.py", ROOT / "tests" / "reports.py"]:
            if "__pycache__" not in path.parts:
                files[path.relative_to(ROOT).as_posix()] = path.read_text(encoding="utf-8")
        for path in sorted(blank.rglob("*")):
            if path.is_file() and ".git" not in path.relative_to(blank).parts:
                files["blank/" + path.relative_to(blank).as_posix()] = path.read_bytes()
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, content in files.items():
                info = zipfile.ZipInfo(name)
                info.external_attr = (0o755 if name in ("setup.sh", "run_autograder") else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                bundle.writestr(info, content)
    return len(files)


def assemble(submission, base, target, find_copy):
    """The student's copy in ``target``: their whole copy if they sent one, else ``base``
    with the files they sent in place. Returns a sentence that says which."""
    try:
        found = find_copy(submission)
    except Exception:  # noqa: BLE001 -- any failure to find one means: not a whole copy
        found = None
    if found is not None:
        shutil.copytree(found, target, symlinks=False,
                        ignore=shutil.ignore_patterns(".git", "__pycache__", ".venv"))
        where = found.relative_to(submission).as_posix()
        return "graded the copy of the kit" + (f" found inside {where}/" if where != "." else "")
    shutil.copytree(base, target)
    sent = sorted(submission.rglob("*.py"), key=lambda path: (len(path.parts), str(path)))
    used = []
    for folder in ("chatroom", "exercises"):
        for blank in sorted((target / folder).glob("*.py")):
            mine = next((path for path in sent if path.name == blank.name), None)
            if mine is not None:
                shutil.copyfile(mine, blank)
                used.append(f"{folder}/{blank.name}")
    return f"graded the blank kit with your files: {', '.join(used) or 'none of them matched'}"


def results_json(graded_exercises, note, walls):
    """Gradescope's results.json for one student: its top-level output says where the copy
    was found and which walls the code ran behind."""
    tests, total = [], 0
    for exercise, results in graded_exercises.items():
        for result in results:
            total += result["points"]
            status = "" if result["status"] == "passed" else f"{result['status']}: {result['message']}"
            tests.append({"name": f"{exercise}: {result['name']}", "score": result["points"],
                          "max_score": result["max"], "output": status,
                          "visibility": ("after_published" if result["visibility"] == "hidden"
                                         else "visible")})
    output = f"{note}\n{isolation.describe(walls)}"
    if any(result["status"] == "grader" for results in graded_exercises.values() for result in results):
        output = ("The grader could not run some checks (not your fault): they show 0 until your "
                  f"instructor runs the autograder again.\n{output}")
    return {"score": total, "output": output, "tests": tests, "stdout_visibility": "hidden"}


def run(submission, results_path, grade_folders, exercises, find_copy):
    """Grade one Gradescope submission and write its results.json."""
    base = ROOT / "blank"
    with tempfile.TemporaryDirectory(prefix="submission-") as scratch:
        copy = Path(scratch) / "copy"
        note = assemble(Path(submission).resolve(), base, copy, find_copy)
        graded = grade_folders([copy], exercises, hidden=[ROOT, Path(submission).resolve()])[copy]
    results_path = Path(results_path)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results_json(graded, note, isolation.walls()), indent=2) + "\n",
                            encoding="utf-8")
    return graded
