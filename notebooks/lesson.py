"""What every lesson needs besides the chat room: run ``from lesson import *`` first.

- ``add_to_class(Class)``: a decorator that adds the function below it to
  ``Class``, so a class can grow one method per cell, next to the prose that
  explains that method (as the d2l book does).
- ``check("ex05")``: grade your exercise here, with the same checks as
  ``python tests/grade.py --student -k ex05`` in a terminal.
- ``require(5)``: stop a cell with one line when exercise 5 is not written yet.

Importing this module also makes JupyterLab pick up your edits to
``chatroom/`` without a restart (``%autoreload``), and shows an unwritten
piece of the chat room as one line that names its exercise, not as a traceback.
"""

import re
import subprocess
import sys
import threading
from pathlib import Path

KIT = Path(__file__).resolve().parents[1]
if str(KIT) not in sys.path:
    sys.path.insert(0, str(KIT))  # this kit's chatroom/, whatever else is installed

from chatroom.pieces import PieceMissing, explain, missing, require  # noqa: E402

__all__ = ["add_to_class", "check", "require", "PieceMissing"]

CHECK_SECONDS = 300
_STUB = re.compile(r"exercise (\d+) \(lesson (\d+)\): ([\w.]+)")
_NOTEBOOK_STUB = re.compile(r"lesson (\d+): (.+)")


def add_to_class(cls):
    """Decorator: add the function below it to ``cls``, as a method of that name."""
    def add(function):
        setattr(cls, function.__name__, function)
        return function
    return add


def check(exercise):
    """Grade one exercise ("ex05") with the kit's grader, and show the result here."""
    command = [sys.executable, str(KIT / "tests" / "grade.py"), "--student", str(KIT),
               "-k", exercise]
    try:
        done = subprocess.run(command, cwd=KIT, capture_output=True, text=True,
                              timeout=CHECK_SECONDS, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        print(f"the check did not finish within {CHECK_SECONDS} s; run it in a terminal: "
              f"python tests/grade.py --student -k {exercise}")
        return
    print((done.stdout + done.stderr).rstrip())


def _one_line(error):
    """The one line for an unwritten piece, or None for any other error."""
    if isinstance(error, PieceMissing):
        return str(error)
    found = _STUB.fullmatch(str(error)) if isinstance(error, NotImplementedError) else None
    if found:
        exercise = int(found.group(1))
        for piece in missing([exercise]) or []:
            if piece.name == found.group(3):
                return explain(piece)
        return f"exercise {exercise} (lesson {found.group(2)}) is not done yet: {found.group(3)}"
    found = _NOTEBOOK_STUB.fullmatch(str(error)) if isinstance(error, NotImplementedError) else None
    if found:
        return (f"lesson {found.group(1)}: {found.group(2)} is yours to write, in the cell "
                "that says 'Your code here'; run it, then this one again")
    return None


def _show_in_notebook(shell, kind, error, trace, tb_offset=None):
    line = _one_line(error)
    if line is None:
        shell.showtraceback((kind, error, trace), tb_offset=tb_offset)
    else:
        print(f"error: {line}", file=sys.stderr)


def _show_from_thread(arguments, _default=threading.excepthook):
    line = _one_line(arguments.exc_value)
    if line is None:
        _default(arguments)
    else:
        print(f"error: {line} (in thread {arguments.thread.name})", file=sys.stderr)


def _set_up():
    try:
        shell = get_ipython()  # noqa: F821 -- defined inside IPython only
    except NameError:
        return  # imported from plain Python: nothing to set up
    shell.set_custom_exc((NotImplementedError,), _show_in_notebook)
    threading.excepthook = _show_from_thread
    if "autoreload" not in shell.extension_manager.loaded:
        shell.run_line_magic("load_ext", "autoreload")
        shell.run_line_magic("autoreload", "2")


_set_up()
