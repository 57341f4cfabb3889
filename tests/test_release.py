"""The students' copy, built with tests/release.py and checked both ways.

As released: no answer in any form (renamed names included), no solutions,
no hidden tests, no instructor's tools; the scripts stop with one line that
names an exercise; the student's check scores 0. With solutions: the check
scores full marks, and two people chat through the copy's own server.
"""

import ast
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from answers import BEGIN, END, ROOT, regions
from conftest import Script, streams
from grade import catalog

TIMEOUT = 300


def release(target, *options):
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "release.py"), *options, str(target)],
                          capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return target


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    return release(tmp_path_factory.mktemp("released") / "kit")


@pytest.fixture(scope="module")
def with_solutions(tmp_path_factory):
    return release(tmp_path_factory.mktemp("solved") / "kit", "--with-solutions")


def in_copy(copy, *args, timeout=TIMEOUT):
    """Run ``python ARGS`` in the copy, as a student would there (its chatroom comes first)."""
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, *args], cwd=copy, capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


# -- what the copy holds --------------------------------------------------------------

def copy_texts(copy):
    """{relative path: text} of every .py file and every lesson code cell in the copy."""
    texts = {}
    for path in copy.rglob("*"):
        relative = path.relative_to(copy).as_posix()
        if relative.startswith(".git/") or not path.is_file():
            continue
        if path.suffix == ".py":
            texts[relative] = path.read_text(encoding="utf-8")
        elif path.suffix == ".ipynb":
            notebook = json.loads(path.read_text(encoding="utf-8"))
            for number, cell in enumerate(notebook["cells"]):
                texts[f"{relative}#{number}"] = "".join(cell["source"])
    return texts


def test_the_copy_holds_no_solutions_no_hidden_tests_and_no_instructor_tools(released):
    files = {path.relative_to(released).as_posix() for path in released.rglob("*")
             if path.is_file() and ".git" not in path.parts}
    assert not any(name.startswith("solutions/") for name in files)
    assert not any("/hidden/" in name for name in files)
    tools = {"tests/release.py", "tests/make_exercises.py", "tests/answers.py",
             "tests/sync_lessons.py", "tests/conftest.py", ".ci/run"}
    assert not files & tools, files & tools
    assert not any(re.match(r"tests/test_", name) for name in files)
    for name, text in copy_texts(released).items():
        assert BEGIN not in text and END not in text, f"a solution marker is left in {name}"


def test_the_copy_is_a_fresh_git_repository(released):
    log = subprocess.run(["git", "log", "--oneline"], cwd=released, capture_output=True,
                         text=True, timeout=60)
    assert log.returncode == 0 and len(log.stdout.splitlines()) == 1, log.stdout + log.stderr


def shape(node):
    """An AST dump in which every name, attribute and argument is the same: renaming changes nothing."""
    node = ast.parse(ast.unparse(node))
    for child in ast.walk(node):
        for field in ("id", "attr", "arg", "name"):
            if isinstance(getattr(child, field, None), str):
                setattr(child, field, "_")
    return ast.dump(node)


BIG_STATEMENT = 40  # AST nodes: a statement this size is particular to its answer
BIG_ANSWER = 15  # an answer this size, as a whole, is particular too; smaller ones are idioms
PART_OF_ANSWER = 1 / 3  # a run of an answer's statements this big is the answer in another form


def size(node):
    return sum(1 for _ in ast.walk(node))


def answers_in_kit():
    """{where: source} of every file and lesson cell of this kit that holds marked answers."""
    sources = {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
               for folder in ("chatroom", "solutions") for path in (ROOT / folder).glob("*.py")}
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        for number, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            if cell["cell_type"] == "code" and BEGIN in "".join(cell["source"]):
                sources[f"notebooks/{path.name}#{number}"] = "".join(cell["source"])
    return sources


def answer_statements():
    """[(where, [shapes to look for])]: each answer as a whole, and its big statements."""
    found = []
    for where, source in answers_in_kit().items():
        tree = ast.parse(source)
        for begin, end, _ in regions(source, where):
            inside = [node for node in ast.walk(tree) if isinstance(node, ast.stmt)
                      and begin < node.lineno - 1 < end and node.end_lineno - 1 < end]
            top = [node for node in inside if not any(
                other is not node and other.lineno <= node.lineno and node.end_lineno <= other.end_lineno
                and node in ast.walk(other) for other in inside)]
            shapes = [shape(node) for node in inside if size(node) >= BIG_STATEMENT]
            if sum(size(node) for node in top) >= BIG_ANSWER:
                shapes.append(sequence_shape(top))
            shapes += [sequence_shape(run) for run in telling_runs(top)]
            found.append((where, shapes))
    return found


def telling_runs(top):
    """The runs of consecutive statements of an answer that give it away on their own.

    A lesson that keeps an answer's first statements and changes its loop shows
    the answer in another form: a run of two or more statements that makes up a
    third of the answer counts. A run of bare calls does not: calls that report
    ("NAME connected") or hand on (announce) are what the docstring says in words.
    """
    total = sum(size(node) for node in top)
    for start in range(len(top)):
        for end in range(start + 2, len(top) + 1):
            run = top[start:end]
            weight = sum(size(node) for node in run)
            if (end - start < len(top) and weight >= max(BIG_ANSWER, PART_OF_ANSWER * total)
                    and not all(isinstance(node, ast.Expr) for node in run)):
                yield run


def sequence_shape(statements):
    return "\n".join(shape(node) for node in statements)


def all_statement_shapes(texts, longest=None):
    """{shape: where} of every statement, and every run of statements, in ``texts``;
    runs of at most ``longest`` statements (no answer is longer), each statement's
    shape made once."""
    shapes = {}
    for name, text in texts.items():
        tree = parse_cell(text)
        if tree is None:
            continue
        made = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.stmt):
                made[node] = shape(node)
                shapes.setdefault(made[node], name)
        for node in ast.walk(tree):
            for field in ("body", "orelse", "finalbody"):
                body = getattr(node, field, None)
                if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                    parts = [made[statement] for statement in body]
                    for start in range(len(parts)):
                        stop = len(parts) if longest is None else min(len(parts), start + longest)
                        for end in range(start + 1, stop + 1):
                            shapes.setdefault("\n".join(parts[start:end]), name)
    return shapes


def parse_cell(text):
    """The syntax tree of a file or a lesson's code cell, or None.

    IPython's magic lines (``%%writefile FILE``, ``%matplotlib inline``, ``!ls``)
    are left out, so that the code a cell writes to a file is compared too;
    a cell that continues a class from an earlier one is dedented first.
    """
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in text.splitlines()]
    for source in ("\n".join(lines), textwrap.dedent("\n".join(lines))):
        try:
            return ast.parse(source)
        except SyntaxError:
            continue
    return None


def test_no_answer_is_in_the_copy_even_renamed(released):
    answers = answer_statements()
    assert len(answers) >= 14, "every exercise's answer should be marked in this kit"
    longest = max(shape.count("\n") + 1 for _, shapes in answers for shape in shapes)
    shapes = all_statement_shapes(copy_texts(released), longest)
    leaks = [f"{where}: {shapes[statement]}" for where, statements in answers
             for statement in statements if statement in shapes]
    assert not leaks, "a statement of an answer (names aside) is in the students' copy:\n" + \
        "\n".join(leaks)


def answers_by_file():
    """{where: [shapes]} of every answer, the answers of one file together."""
    found = {}
    for where, shapes in answer_statements():
        found.setdefault(where, []).extend(shapes)
    return found


def test_the_check_finds_a_renamed_answer(released, tmp_path):
    """The leak check above can fail: an answer with every name changed is found."""
    answers = answers_by_file()
    source = (ROOT / "chatroom" / "protocol.py").read_text(encoding="utf-8")
    renamed = source.replace("_pending", "_waiting").replace("lines", "found")
    shapes = all_statement_shapes({"protocol.py": renamed})
    assert any(statement in shapes for statement in answers["chatroom/protocol.py"])


def test_the_check_finds_part_of_an_answer_in_a_file_a_lesson_writes():
    """An answer whose first statements are kept and whose loop is changed is still found,
    in the body of a ``%%writefile`` cell, in a method that continues a class."""
    answers = answers_by_file()
    cell = ('%%writefile -a "{SERVER_FILE}"\n'
            '    def relay_lines(self, texts, sender=None):\n'
            '        if not texts:\n'
            '            return\n'
            '        data = b"".join(encode_line(text) for text in texts)\n'
            '        for member in self.room.others(sender):\n'
            '            member.send(data)\n')
    shapes = all_statement_shapes({"notebooks/08_measuring.ipynb#1": cell})
    assert any(statement in shapes for statement in answers["chatroom/server.py"])


# -- the copy as released ---------------------------------------------------------------

@pytest.mark.parametrize("script, args", [("chatroom.server", ["127.0.0.1", "0"]),
                                          ("chatroom.client", ["127.0.0.1", "5050"])])
def test_the_scripts_name_the_exercise_to_finish(released, script, args):
    done = in_copy(released, "-m", script, *args, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == ("error: exercise 1 (lesson 1) is not done yet: write parse_port in "
                           "chatroom/cli.py, then run the check at the end of lesson 1\n")


def test_the_students_check_scores_zero_and_says_not_attempted(released):
    done = in_copy(released, "tests/grade.py", "--student")
    most = sum(points for tests in catalog().values() for _, points, visibility, _ in tests
               if visibility == "public")
    assert done.returncode == 1, done.stderr
    assert f"Total: 0 / {most}" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout.count("not attempted: ") >= 8, done.stdout


def test_the_students_readme_gives_its_two_commands_and_nothing_that_overwrites(released):
    readme = (released / "README.md").read_text(encoding="utf-8")
    assert "pip install -r requirements.txt && jupyter lab" in readme
    assert "python tests/grade.py --student" in readme
    for text in copy_texts(released).values():
        assert "make_exercises" not in text and "release.py" not in text


# -- the copy with solutions ------------------------------------------------------------

def test_with_solutions_the_students_check_scores_full_marks(with_solutions):
    done = in_copy(with_solutions, "tests/grade.py", "--student")
    most = sum(points for tests in catalog().values() for _, points, visibility, _ in tests
               if visibility == "public")
    assert f"Total: {most} / {most}" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 0


def test_two_people_chat_through_the_copys_own_server(with_solutions):
    env = dict(os.environ, PYTHONPATH=str(with_solutions), PYTHONUNBUFFERED="1",
               PYTHONIOENCODING="utf-8")
    server = Script("-m", "chatroom.server", "127.0.0.1", "0", env=env, cwd=with_solutions)
    alice = bob = None
    try:
        line = server.wait_for("Chat server listening on")[-1]
        port = line.split(" port ")[1].split(".")[0]
        alice = Script("-m", "chatroom.client", "127.0.0.1", port, env=env, cwd=with_solutions)
        alice.wait_for("* Welcome")
        server.wait_for("127.0.0.1 connected")
        bob = Script("-m", "chatroom.client", "127.0.0.1", port, env=env, cwd=with_solutions)
        bob.wait_for("* Welcome")
        alice.wait_for("joined")
        alice.type("hello from alice")
        assert bob.wait_for("hello from alice")[-1] == "<127.0.0.1> hello from alice"
        bob.type("/quit")
        assert bob.finish()[0] == 0
    finally:
        for script in (alice, bob, server):
            if script is not None:
                script.kill()


def test_a_lesson_in_the_copy_names_the_missing_piece_in_one_line(released, tmp_path):
    """Lesson 2 run by a real kernel in the copy as released: every cell that needs the student's
    LineBuffer.feed says so in one line; no traceback but the cell that is meant to fail."""
    import nbformat
    from nbclient import NotebookClient

    lesson = released / "notebooks" / "02_framing.ipynb"
    notebook = nbformat.read(lesson, as_version=4)
    NotebookClient(notebook, timeout=60, allow_errors=True,
                   resources={"metadata": {"path": str(lesson.parent)}}).execute()
    one_lines, tracebacks = [], []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.output_type == "error" and "raises-exception" not in cell.metadata.get("tags", []):
                tracebacks.append(f"{output.ename}: {output.evalue}")
        one_lines += streams(cell).get("stderr", "").splitlines()
    assert tracebacks == []
    wanted = ("error: exercise 2 (lesson 2) is not done yet: write LineBuffer.feed in "
              "chatroom/protocol.py, then run the check at the end of lesson 2")
    assert one_lines and set(one_lines) == {wanted}, one_lines
    last_code = [cell for cell in notebook.cells if cell.cell_type == "code"][-1]  # the check
    checked = "".join(output.get("text", "") for output in last_code.outputs)
    assert "not attempted: LineBuffer.feed is not written yet" in checked
