"""Keep the lessons' package code equal to the package.

A lesson presents package code in two ways.

1. A code cell whose first line is a path comment, such as ``# chatroom/room.py``,
   shows code of that module, and runs it. A class may be shown in parts: its
   ``class`` line and docstring with some methods in one cell, and further
   methods in later cells, each as a function under ``@add_to_class(Class)``.
2. An exercise, which the student writes in the package file, is shown in a
   markdown cell: a fenced ``python`` block whose first line is the path
   comment, holding the piece as the students' copy has it: its signature,
   its docstring and the stub that names the exercise.

Every function, class and method of the package (but chatroom/pieces.py, the
kit's own machinery) is presented exactly once, to the character, and a
lesson presents nothing that the package lacks.

A module-level constant (``NAME = ...`` or ``NAME: type = ...``, with the
string statement after it that documents it, if there is one) is checked where
a lesson shows it: once, to the character, and only if the package has it.
A lesson need not show every constant: it shows those a student meets, such
as ``DEFAULT_PORT``; tuning values such as the client's ``WAKE_SECONDS`` teach
nothing. Comments above a definition or a constant are not compared.

tests/test_lessons_build_package.py checks all this. After editing chatroom/, run

    python tests/sync_lessons.py

to copy each changed definition or constant into the lessons that show it, then
re-execute those lessons (the command prints which) so their outputs match.
"""

import ast
import re
import sys
import textwrap
from pathlib import Path

import nbformat

from answers import BEGIN, package_stub, replace_answers

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"#\s*(chatroom/\w+\.py)\s*$")
FENCE = re.compile(r"(```python\n)(.*?)(```)", re.S)
NOT_TAUGHT = {"chatroom/pieces.py"}  # how the kit names unwritten pieces, not the chat room
ADD_TO_CLASS = re.compile(r"@add_to_class\((\w+)\)\s*$")


def units(source, filename):
    """{name: (first line, end line, text)}: each function, class header, method and constant.

    A class's header is its ``class`` line, docstring and attributes, up to its
    first method. A method is keyed ``Class.method`` and its text is dedented;
    so is a function under ``@add_to_class(Class)``, whose decorator is left out.
    A constant is a module-level assignment to a name, with the string statement
    that follows it, if any (its docstring).
    """
    lines = source.splitlines()
    found = {}

    def text(first, end):
        return textwrap.dedent("\n".join(lines[first:end])).rstrip()

    body = ast.parse(source, filename).body
    for node, following in zip(body, body[1:] + [None]):
        name = constant_name(node)
        if name:
            end = following.end_lineno if _is_docstring(following) else node.end_lineno
            found[name] = (node.lineno - 1, end, text(node.lineno - 1, end))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            owner = ADD_TO_CLASS.match(lines[start].strip())
            if owner:
                found[f"{owner.group(1)}.{node.name}"] = (start, node.end_lineno,
                                                          text(start + 1, node.end_lineno))
            else:
                found[node.name] = (start, node.end_lineno, text(start, node.end_lineno))
        elif isinstance(node, ast.ClassDef):
            methods = [child for child in node.body
                       if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))]
            header_end = (min([methods[0].lineno] + [d.lineno for d in methods[0].decorator_list]) - 1
                          if methods else node.end_lineno)
            while header_end > node.lineno and not lines[header_end - 1].strip():
                header_end -= 1
            found[node.name] = (node.lineno - 1, header_end, text(node.lineno - 1, header_end))
            for method in methods:
                start = min([method.lineno] + [d.lineno for d in method.decorator_list]) - 1
                found[f"{node.name}.{method.name}"] = (start, method.end_lineno,
                                                       text(start, method.end_lineno))
    return found


def constant_name(node):
    """The name a module-level assignment defines (``A, B`` for several), or None.

    ``NAME = ...``, ``NAME: type = ...`` and ``A, B = ...`` define names;
    an assignment to an attribute or an item (``x.y = ...``) does not.
    """
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign):
        targets = [node.target]
    else:
        return None
    names = []
    for target in targets:
        for part in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
            if not isinstance(part, ast.Name):
                return None
            names.append(part.id)
    return ", ".join(names)


def _is_docstring(node):
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def is_constant(code):
    """True if ``code``, a unit's text, is a constant rather than a function, class or method."""
    return constant_name(ast.parse(code).body[0]) is not None


def package_units(root=ROOT):
    """{(module path, name): (text, is an exercise)} for the package in ``root``/chatroom."""
    found = {}
    for path in sorted((root / "chatroom").glob("*.py")):
        module = path.relative_to(root).as_posix()
        if module in NOT_TAUGHT:
            continue
        source = path.read_text(encoding="utf-8")
        student = units(replace_answers(source, path.name, package_stub(path.stem)), module)
        for name, (_, _, code) in units(source, module).items():
            if BEGIN in code:
                found[(module, name)] = (student[name][2], True)
            else:
                found[(module, name)] = (code, False)
    return found


def presentations(notebook):
    """(kind, module, source) for each code cell and exercise block that presents package code.

    ``kind`` is "code" for a code cell, "exercise" for a markdown block.
    """
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            marker = MARKER.match(cell.source.split("\n", 1)[0])
            if marker:
                yield "code", marker.group(1), cell.source, index, None
        elif cell.cell_type == "markdown":
            for block in FENCE.finditer(cell.source):
                marker = MARKER.match(block.group(2).split("\n", 1)[0])
                if marker:
                    yield "exercise", marker.group(1), block.group(2), index, block.span(2)


def lesson_units():
    """{(module, name): [(notebook name, kind, text), ...]} from every lesson."""
    found = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for kind, module, source, _, _ in presentations(notebook):
            for name, (_, _, code) in units(source, path.name).items():
                if kind == "exercise" and "." not in name and _is_class(source, name):
                    continue  # a class line in an exercise block only shows where the method goes
                found.setdefault((module, name), []).append((path.name, kind, code))
    return found


def _is_class(source, name):
    return any(isinstance(node, ast.ClassDef) and node.name == name
               for node in ast.parse(source).body)


def synced(source, module, package, kind):
    """``source`` with each definition replaced by the package's version of it."""
    lines = source.split("\n")
    spans = sorted(units(source, module).items(), key=lambda item: -item[1][0])
    for name, (start, end, code) in spans:
        wanted = package.get((module, name))
        if wanted is None or (kind == "exercise") != wanted[1] or code == wanted[0]:
            continue
        indent = re.match(r"\s*", lines[start + (1 if ADD_TO_CLASS.match(lines[start].strip()) else 0)]).group()
        first = start + 1 if ADD_TO_CLASS.match(lines[start].strip()) else start
        lines[first:end] = [indent + line if line else line for line in wanted[0].split("\n")]
    return "\n".join(lines)


def main(argv=None):
    """``python tests/sync_lessons.py [LESSON ...]``: every lesson, or only those named."""
    names = (sys.argv[1:] if argv is None else argv)
    package = package_units()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        if names and not any(name in path.name for name in names):
            continue
        notebook = nbformat.read(path, as_version=4)
        changed = False
        for kind, module, source, index, span in reversed(list(presentations(notebook))):
            new = synced(source, module, package, kind)
            if new != source:
                cell = notebook.cells[index]
                cell.source = new if span is None else cell.source[:span[0]] + new + cell.source[span[1]:]
                changed = True
        if changed:
            nbformat.write(notebook, path)
            print(f"updated {path.relative_to(ROOT)}: re-execute it, then check it with pytest")
    print("done: every lesson's package code is as in chatroom/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
