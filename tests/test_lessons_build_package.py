"""The lessons build the package: every definition in chatroom/ is shown in a lesson.

A lesson code cell whose first line is a path comment, such as

    # chatroom/protocol.py

presents code of that module. Every top-level function and class in such a
cell must be, to the character, the one in the package, and every top-level
function and class in the package must appear in one such cell. Imports and
other statements in the cell are free, so the lesson can run on its own.
"""

import ast
import difflib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"#\s*(chatroom/[\w/]+\.py)\s*$")


def definitions(source, filename):
    """{name: source} of the top-level functions and classes in ``source``."""
    tree = ast.parse(source, filename)
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            lines = source.splitlines()[start - 1: node.end_lineno]
            found[node.name] = "\n".join(lines)
    return found


def package_definitions():
    found = {}
    for path in sorted((ROOT / "chatroom").glob("*.py")):
        module = path.relative_to(ROOT).as_posix()
        for name, code in definitions(path.read_text(encoding="utf-8"), module).items():
            found[(module, name)] = code
    return found


def lesson_definitions():
    """{(module, name): [(notebook, source), ...]} from the marked lesson cells."""
    found = {}
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            source = "".join(cell["source"])
            marker = MARKER.match(source.split("\n", 1)[0])
            if cell["cell_type"] != "code" or not marker:
                continue
            for name, code in definitions(source, notebook.name).items():
                found.setdefault((marker.group(1), name), []).append((notebook.name, code))
    return found


PACKAGE = package_definitions()
LESSONS = lesson_definitions()


@pytest.mark.parametrize("key", sorted(PACKAGE), ids=lambda key: f"{key[0]}:{key[1]}")
def test_package_definition_is_taught(key):
    module, name = key
    assert key in LESSONS, f"{module} defines {name}, but no lesson cell marked '# {module}' shows it"
    for notebook, code in LESSONS[key]:
        diff = "\n".join(difflib.unified_diff(
            PACKAGE[key].splitlines(), code.splitlines(), f"{module}", f"{notebook}", lineterm=""))
        assert not diff, f"{name} in {notebook} differs from {module}:\n{diff}"


def test_lessons_define_nothing_the_package_lacks():
    extra = sorted(f"{module}:{name} (in {', '.join(nb for nb, _ in places)})"
                   for (module, name), places in LESSONS.items() if (module, name) not in PACKAGE)
    assert not extra, "lesson cells marked for the package define what it does not have:\n" + \
        "\n".join(extra)
