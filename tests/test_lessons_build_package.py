"""The lessons build the package: every definition in chatroom/ is taught, or set as an exercise.

The two ways a lesson presents package code are described in tests/sync_lessons.py,
which also copies changed package code into the lessons. Functions, classes and
methods must all be presented; a module-level constant is checked where a lesson
shows it (the docstring of tests/sync_lessons.py says why).
"""

import difflib
import shutil
from pathlib import Path

import nbformat
import pytest

from sync_lessons import (is_constant, lesson_units, package_units, presentations,
                          synced, units)

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = package_units()
LESSONS = lesson_units()
DEFINITIONS = sorted(key for key, (code, _) in PACKAGE.items() if not is_constant(code))
CONSTANTS = sorted(key for key, (code, _) in PACKAGE.items() if is_constant(code))


def presentation_problem(key, package, lessons):
    """Why the lessons' presentation of package unit ``key`` is wrong, or None.

    A function, class or method must be presented; a constant only where shown.
    """
    module, name = key
    wanted, exercise = package[key]
    if key not in lessons:
        if is_constant(wanted):
            return None
        how = ("set as an exercise in a markdown block marked '# " if exercise
               else "shown in a code cell marked '# ")
        return f"{module} defines {name}, but no lesson has it {how}{module}'"
    for notebook, kind, code in lessons[key]:
        if (kind == "exercise") != exercise:
            return f"{name} in {notebook}: " + (
                "an exercise is shown in a markdown block as the students' copy has it, never "
                "as code that runs" if exercise else
                "only exercises go in markdown blocks; show it in a code cell")
        diff = "\n".join(difflib.unified_diff(wanted.splitlines(), code.splitlines(),
                                              module, notebook, lineterm=""))
        if diff:
            return (f"{name} in {notebook} differs from {module} "
                    f"(run python tests/sync_lessons.py):\n{diff}")
    return None


@pytest.mark.parametrize("key", DEFINITIONS, ids=lambda key: f"{key[0]}:{key[1]}")
def test_package_definition_is_presented(key):
    problem = presentation_problem(key, PACKAGE, LESSONS)
    assert problem is None, problem


@pytest.mark.parametrize("key", [key for key in CONSTANTS if key in LESSONS],
                         ids=lambda key: f"{key[0]}:{key[1]}")
def test_shown_constant_is_as_in_the_package(key):
    problem = presentation_problem(key, PACKAGE, LESSONS)
    assert problem is None, problem


def test_each_definition_is_presented_once():
    repeated = sorted(f"{module}:{name} in {', '.join(nb for nb, _, _ in places)}"
                      for (module, name), places in LESSONS.items() if len(places) > 1)
    assert not repeated, "definitions presented more than once:\n" + "\n".join(repeated)


def not_in_package(package, lessons):
    """Each unit that a lesson presents as package code and the package lacks."""
    return sorted(f"{module}:{name} (in {', '.join(nb for nb, _, _ in places)})"
                  for (module, name), places in lessons.items() if (module, name) not in package)


def test_lessons_define_nothing_the_package_lacks():
    extra = not_in_package(PACKAGE, LESSONS)
    assert not extra, "lesson cells marked for the package define what it does not have:\n" + \
        "\n".join(extra)


def test_constants_are_units():
    source = ('"""A module."""\n'
              'import re\n\n'
              '# a comment above is not compared\n'
              'PORT = 5050  # a comment on the line is\n'
              'LIMIT: int = 2048\n'
              '"""The longest line."""\n\n'
              'A, B = 1, 2\n'
              're.X = 1\n'
              'def f():\n'
              '    LOCAL = 1\n')
    found = {name: code for name, (_, _, code) in units(source, "m.py").items()}
    assert found == {"PORT": "PORT = 5050  # a comment on the line is",
                     "LIMIT": 'LIMIT: int = 2048\n"""The longest line."""',
                     "A, B": "A, B = 1, 2",
                     "f": "def f():\n    LOCAL = 1"}
    assert is_constant(found["LIMIT"]) and not is_constant(found["f"])


def _package_copy(tmp_path, module, old, new):
    """The units of a copy of chatroom/ in which ``module`` has ``new`` in place of ``old``."""
    shutil.copytree(ROOT / "chatroom", tmp_path / "chatroom",
                    ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "chatroom" / module
    source = path.read_text(encoding="utf-8")
    assert source.count(old) == 1, f"{module} no longer has {old!r} once: update this test"
    path.write_text(source.replace(old, new), encoding="utf-8")
    return package_units(tmp_path)


def _cell_showing(key):
    """The source of the one lesson cell that shows package unit ``key``."""
    (notebook, _, _), = LESSONS[key]
    cells = [source for kind, module, source, _, _ in
             presentations(nbformat.read(ROOT / "notebooks" / notebook, as_version=4))
             if module == key[0] and key[1] in units(source, notebook)]
    assert len(cells) == 1, cells
    return cells[0]


def test_a_constant_changed_in_the_package_fails_until_synced(tmp_path):
    """The check at work on constants, on a copy of the package: change DEFAULT_PORT."""
    key = ("chatroom/cli.py", "DEFAULT_PORT")
    assert key in LESSONS, "no lesson shows DEFAULT_PORT in a cell marked '# chatroom/cli.py'"
    changed = _package_copy(tmp_path, "cli.py", "\nDEFAULT_PORT = 5050\n", "\nDEFAULT_PORT = 6060\n")
    problem = presentation_problem(key, changed, LESSONS)
    assert problem and "-DEFAULT_PORT = 6060" in problem and "+DEFAULT_PORT = 5050" in problem
    cell = _cell_showing(key)
    assert synced(cell, "chatroom/cli.py", changed, "code") == \
        synced(cell, "chatroom/cli.py", PACKAGE, "code").replace("\nDEFAULT_PORT = 5050\n",
                                                                 "\nDEFAULT_PORT = 6060\n")


def test_a_constant_s_docstring_is_compared_and_synced(tmp_path):
    key = ("chatroom/protocol.py", "MAX_LINE_BYTES")
    assert key in LESSONS, "no lesson shows MAX_LINE_BYTES in a cell marked '# chatroom/protocol.py'"
    old = '"""The longest line the chat accepts, in bytes, without its newline."""'
    new = '"""The longest line, in bytes."""'
    changed = _package_copy(tmp_path, "protocol.py", old, new)
    assert new in presentation_problem(key, changed, LESSONS)
    cell = _cell_showing(key)
    assert synced(cell, "chatroom/protocol.py", changed, "code") == \
        synced(cell, "chatroom/protocol.py", PACKAGE, "code").replace(old, new)


def test_a_shown_constant_the_package_lacks_is_found(tmp_path):
    key = ("chatroom/cli.py", "CONNECT_TIMEOUT")
    assert key in LESSONS, "no lesson shows CONNECT_TIMEOUT in a cell marked '# chatroom/cli.py'"
    changed = _package_copy(tmp_path, "cli.py", "\nCONNECT_TIMEOUT = 5.0\n", "\n")
    assert [line for line in not_in_package(changed, LESSONS)
            if line.startswith("chatroom/cli.py:CONNECT_TIMEOUT ")]
