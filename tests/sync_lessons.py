"""Keep the lessons' package cells equal to the package.

A lesson code cell whose first line is a path comment, such as

    # chatroom/protocol.py

presents code of that module. Every top-level function and class in such a
cell must be, to the character, the one in the package, and every top-level
function and class in the package must appear in one such cell. Imports and
other statements in the cell are free, so the lesson can run on its own.

tests/test_lessons_build_package.py checks this. After editing chatroom/, run

    python tests/sync_lessons.py

to copy each changed definition into the lesson cells that show it, then
re-execute those lessons (the command prints which) so their outputs match.
"""

import ast
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"#\s*(chatroom/[\w/]+\.py)\s*$")


def definitions(source, filename):
    """{name: (first line, last line, source)} of the top-level defs and classes in ``source``.

    Line numbers count from 0 and the last one is excluded, as in a slice.
    """
    lines = source.splitlines()
    found = {}
    for node in ast.parse(source, filename).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            found[node.name] = (start, node.end_lineno, "\n".join(lines[start:node.end_lineno]))
    return found


def package_definitions():
    """{(module, name): source} for every top-level def and class in chatroom/."""
    found = {}
    for path in sorted((ROOT / "chatroom").glob("*.py")):
        module = path.relative_to(ROOT).as_posix()
        for name, (_, _, code) in definitions(path.read_text(encoding="utf-8"), module).items():
            found[(module, name)] = code
    return found


def marked_cells():
    """(notebook path, notebook, cell, module) for every lesson cell marked with a module."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            marker = MARKER.match(cell.source.split("\n", 1)[0])
            if cell.cell_type == "code" and marker:
                yield path, notebook, cell, marker.group(1)


def lesson_definitions():
    """{(module, name): [(notebook name, source), ...]} from the marked lesson cells."""
    found = {}
    for path, _, cell, module in marked_cells():
        for name, (_, _, code) in definitions(cell.source, path.name).items():
            found.setdefault((module, name), []).append((path.name, code))
    return found


def synced(source, module, package):
    """``source`` with each definition replaced by the package's version of it."""
    lines = source.split("\n")
    # From the bottom up, so earlier line numbers stay valid as lengths change.
    spans = sorted(definitions(source, module).items(), key=lambda item: -item[1][0])
    for name, (start, end, _) in spans:
        if (module, name) in package:
            lines[start:end] = package[(module, name)].split("\n")
    return "\n".join(lines)


def main():
    package = package_definitions()
    changed = {}
    for path, notebook, cell, module in marked_cells():
        new_source = synced(cell.source, module, package)
        if new_source != cell.source:
            cell.source = new_source
            changed[path] = notebook
    for path, notebook in changed.items():
        nbformat.write(notebook, path)
        print(f"updated {path.relative_to(ROOT)}: re-execute it, then check it with pytest")
    if not changed:
        print("every lesson cell already matches the package")
    return 0


if __name__ == "__main__":
    sys.exit(main())
