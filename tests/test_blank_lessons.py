"""Every lesson, run by a real kernel in the blank students' copy, shows no traceback.

A student opens a lesson before writing its pieces, and runs every cell. A
cell that needs a piece still missing must print the one line that names it
(chatroom/pieces.py, notebooks/lesson.py), never a traceback, not even from a
thread that a cell started. The reference is this kit's own lessons, whose
stored outputs nbval checks: a cell may show a traceback in the blank copy
only where it shows one here too (a cell that is meant to fail).
"""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import streams

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CELL_SECONDS = 60
AT_ONCE = 5  # lessons mostly wait on sockets and deadlines: several kernels share 2 cores
MARKS = ("Traceback (most recent call last)", "Exception in thread", "Error: ", "Exception: ")

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """{lesson name: the lesson as a real kernel ran it in a fresh blank students' copy}."""
    target = tmp_path_factory.mktemp("students") / "kit"
    subprocess.run([sys.executable, str(ROOT / "tests" / "release.py"), str(target)],
                   check=True, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    waiting, running, done, retried = list(LESSONS), [], {}, set()
    for _ in range(len(LESSONS) * 3 + 1):  # each round starts or finishes at least one
        while waiting and len(running) < AT_ONCE:
            lesson = waiting.pop(0)
            running.append((lesson, subprocess.Popen(
                [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                 "--allow-errors", f"--ExecutePreprocessor.timeout={CELL_SECONDS}",
                 "--output-dir", str(target / "ran"), "--output", lesson.stem,
                 str(target / "notebooks" / lesson.name)],
                cwd=target, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True)))
        if not running:
            break
        lesson, process = running.pop(0)
        _, errors = process.communicate(timeout=CELL_SECONDS * 60)
        ran = target / "ran" / lesson.name
        if not ran.exists() and "Kernel died before replying" in errors and lesson not in retried:
            retried.add(lesson)  # kernels started at the same moment can clash: once more
            waiting.append(lesson)
            continue
        done[lesson.name] = nbformat.read(ran, as_version=4) if ran.exists() else errors
    return done


def tracebacks(cell):
    """What in a code cell's outputs looks like a traceback or an unexplained error."""
    found = [f"{output.get('ename')}: {output.get('evalue')}" for output in cell.get("outputs", [])
             if output.get("output_type") == "error"]
    for text in streams(cell).values():
        found += [line for line in text.splitlines()
                  if line.startswith(MARKS) or (": " in line and line.split(":")[0].endswith("Error")
                                                and not line.startswith("error: "))]
    return found


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_the_blank_copy_shows_no_traceback_the_kit_does_not(executed, lesson):
    notebook = executed[lesson.name]
    assert not isinstance(notebook, str), f"the lesson did not run to its end: {notebook[-2000:]}"
    reference = nbformat.read(lesson, as_version=4)
    assert len(reference.cells) == len(notebook.cells), "the release changed the lesson's cells"
    meant = {number for number, cell in enumerate(reference.cells)
             if cell.cell_type == "code" and tracebacks(cell)}
    unexpected = [f"cell {number}: {line}" for number, cell in enumerate(notebook.cells)
                  if cell.cell_type == "code" and number not in meant
                  for line in tracebacks(cell)]
    assert not unexpected, (f"{lesson.name} in the blank students' copy shows tracebacks where "
                            "it should name the missing piece in one line:\n" +
                            "\n".join(unexpected[:20]))
