"""The marked answers of the kit: find them, and take them out.

An answer is the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
(nbgrader's markers), in a package module, a challenge in solutions/, or a
lesson's code cell. The students' copy replaces each with one stub line at
the markers' indentation, which names the exercise; the copy "with
solutions" keeps the answer and drops only the markers.
"""

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from chatroom.pieces import PIECES, stub_for  # noqa: E402

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
PIECE_BY_NAME = {(piece.module, piece.name): piece for piece in PIECES}


class MarkerError(ValueError):
    """Markers that do not pair up, or an answer the catalog does not know."""


def regions(source, filename="<source>"):
    """[(first line, last line, indent)] of each marked answer, markers included (0-based)."""
    found, begin = [], None
    for number, line in enumerate(source.splitlines()):
        marker = line.strip()
        if marker == BEGIN:
            if begin is not None:
                raise MarkerError(f"{filename}:{number + 1}: {BEGIN} inside another")
            begin = number
        elif marker == END:
            if begin is None:
                raise MarkerError(f"{filename}:{number + 1}: {END} without {BEGIN}")
            indent = source.splitlines()[begin]
            found.append((begin, number, indent[: len(indent) - len(indent.lstrip())]))
            begin = None
    if begin is not None:
        raise MarkerError(f"{filename}:{begin + 1}: {BEGIN} is never ended")
    return found


def enclosing_name(source, line):
    """The qualified name (``Class.method``) of the function holding 0-based ``line``."""
    best = None

    def visit(node, prefix):
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if child.lineno - 1 <= line < child.end_lineno and not isinstance(child, ast.ClassDef):
                    best = name
                visit(child, name + ".")

    visit(ast.parse(source), "")
    return best


def replace_answers(source, filename, stub):
    """``source`` with each answer replaced by ``stub(name, indent)`` lines.

    ``stub=None`` keeps each answer and drops only its two marker lines.
    """
    lines = source.splitlines(keepends=True)
    newline = "\n" if source.endswith("\n") or not source else ""
    spans = regions(source, filename)
    for begin, end, indent in reversed(spans):
        if stub is None:
            lines[begin:end + 1] = lines[begin + 1:end]
        else:
            name = enclosing_name(source, begin)
            lines[begin:end + 1] = [text + "\n" for text in stub(name, indent)]
    text = "".join(lines)
    return text if text.endswith("\n") or not newline else text + newline


def package_stub(module):
    """The stub maker for ``chatroom/<module>.py``: each answer names its exercise."""
    def stub(name, indent):
        piece = PIECE_BY_NAME.get((module, name))
        if piece is None:
            raise MarkerError(f"chatroom/{module}.py: the answer in {name} is not an exercise "
                              "in chatroom/pieces.py's PIECES")
        return [indent + stub_for(piece)]
    return stub


def challenge_stub(challenge):
    """The stub maker for ``solutions/<challenge>.py``, such as ch6_private_messages."""
    number = re.match(r"ch(\d+)_", challenge).group(1)
    return lambda name, indent: [
        f'{indent}raise NotImplementedError("challenge {number}: {name or "this part"}")']


def lesson_stub(lesson):
    """The stub maker for a lesson's code cell: the student writes it in the notebook."""
    return lambda name, indent: [
        f"{indent}# Your code here.",
        f'{indent}raise NotImplementedError("lesson {lesson}: {name or "your code"}")']


def stubbed(path):
    """The students' text of one kit file (a package module or a challenge solution)."""
    path = Path(path)
    source = path.read_text(encoding="utf-8")
    if path.parent.name == "chatroom":
        return replace_answers(source, path.name, package_stub(path.stem))
    return replace_answers(source, path.name, challenge_stub(path.stem))
