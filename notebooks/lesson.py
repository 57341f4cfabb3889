"""What every lesson needs besides the chat room: run ``from lesson import *`` first.

- ``add_to_class(Class)``: a decorator that adds the function below it to
  ``Class``, so a class can grow one method per cell, next to the prose that
  explains that method (as the d2l book does).
- ``check("ex05")``: grade your exercise here, with the same checks as
  ``python tests/grade.py --student -k ex05`` in a terminal; stuck, ``check("ex05", hint=1)``
  gives a first hint (then ``hint=2``, ``hint=3``), like ``--hint 1`` there.
- ``require(5)``: stop a cell with one line when exercise 5 is not written yet;
  ``require_pieces("ChatServer.start", ...)``: the same for some pieces of one.
- ``wait_for_all(threads, seconds)``: join threads with one deadline for all; if some
  still run (a deadlock?), stop the cell with one line that says how many.

Importing this module also makes JupyterLab pick up your edits to
``chatroom/`` without a restart (``%autoreload``), and shows an unwritten
piece of the chat room as one line that names its exercise, not as a traceback,
and a cell that waited in vain for the chat room (``queue.Empty``) as one line too.
"""

import inspect
import queue
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

KIT = Path(__file__).resolve().parents[1]
if str(KIT) not in sys.path:
    sys.path.insert(0, str(KIT))  # this kit's chatroom/, whatever else is installed

from chatroom.pieces import (PieceMissing, explain, missing, require,  # noqa: E402
                             require_pieces)

__all__ = ["add_to_class", "check", "require", "require_pieces", "PieceMissing", "Stuck",
           "wait_for_all"]

CHECK_SECONDS = 300
_STUB = re.compile(r"exercise (\d+) \(lesson (\d+)\): ([\w.]+)")
_NOTEBOOK_STUB = re.compile(r"lesson (\d+): (.+)")
NOTHING_CAME = ("nothing came within the time this cell waits (queue.Empty): a piece of the chat "
                "room did not do what the cell expects; the check at the end of this lesson names it")


def add_to_class(cls):
    """Decorator: add the function below it to ``cls``, as a method of that name.

    A method that calls ``super()`` works as if it were written in the class.
    """
    def add(function):
        code = function.__code__
        if "super" in code.co_names and not code.co_freevars:
            function = _written_in(cls, function)
        setattr(cls, function.__name__, function)
        return function
    return add


def _written_in(cls, function):
    """``function`` compiled again inside a class block: ``super()`` with no arguments
    finds its class in a cell that only a class block gives, and the cell is set to ``cls``."""
    lines, first = inspect.getsourcelines(function)
    while not lines[0].lstrip().startswith(("def ", "async def ")):  # the decorators
        lines, first = lines[1:], first + 1
    source = ("\n" * max(first - 2, 0) + "class _Owner:\n" +
              textwrap.indent(textwrap.dedent("".join(lines)), "    "))
    namespace = {}
    exec(compile(source, function.__code__.co_filename, "exec"), function.__globals__, namespace)
    method = vars(namespace["_Owner"])[function.__name__]
    method.__closure__[method.__code__.co_freevars.index("__class__")].cell_contents = cls
    method.__qualname__ = f"{cls.__name__}.{function.__name__}"
    return method


def check(exercise, hint=None):
    """Grade one exercise ("ex05") with the kit's grader, and show the result here;
    ``hint=1`` (then 2, 3) shows a hint for it instead, one step at a time."""
    command = [sys.executable, str(KIT / "tests" / "grade.py"), "--student", str(KIT),
               "-k", exercise] + ([] if hint is None else ["--hint", str(hint)])
    try:
        done = subprocess.run(command, cwd=KIT, capture_output=True, text=True,
                              timeout=CHECK_SECONDS, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        print(f"the check did not finish within {CHECK_SECONDS} s; run it in a terminal: "
              f"python tests/grade.py --student -k {exercise}")
        return
    print((done.stdout + done.stderr).rstrip())


class Stuck(Exception):
    """Threads that had not finished by their deadline (shown as one line in a lesson)."""


def wait_for_all(threads, seconds):
    """Join ``threads``, all within ``seconds``; raise Stuck if some still run then."""
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        raise Stuck(f"{stuck} of {len(threads)} threads had not finished after {seconds:g} s: a "
                    "deadlock? A Lock is not re-entrant: a method that holds it must not call one "
                    "that takes it too. Fix it, then restart the kernel: the stuck threads keep "
                    "the lock")


def _one_line(error):
    """The one line for an unwritten piece, or None for any other error."""
    if isinstance(error, (PieceMissing, Stuck)):
        return str(error)
    if isinstance(error, queue.Empty):
        return NOTHING_CAME
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
    shell.set_custom_exc((NotImplementedError, queue.Empty, Stuck), _show_in_notebook)
    threading.excepthook = _show_from_thread
    if "autoreload" not in shell.extension_manager.loaded:
        shell.run_line_magic("load_ext", "autoreload")
        shell.run_line_magic("autoreload", "2")


_set_up()
