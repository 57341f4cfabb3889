"""Which pieces of the chat room are written yet.

In the students' copy of the kit, each exercise is a piece of this package
whose body is a stub that names it, for example::

    raise NotImplementedError("exercise 2 (lesson 2): LineBuffer.feed")

The scripts and the lessons ask ``missing`` before they run, so a student who
has not written a piece yet reads one line that names it, never a traceback.
In the instructor's kit every piece is written, and nothing here ever fires.
"""

import inspect
import re
from collections import namedtuple
from pathlib import Path

Piece = namedtuple("Piece", "exercise lesson module name")

PIECES = (
    Piece(1, 1, "cli", "parse_port"),
    Piece(1, 1, "cli", "resolve"),
    Piece(2, 2, "protocol", "LineBuffer.feed"),
    Piece(2, 2, "protocol", "decode_line"),
    Piece(2, 2, "protocol", "encode_line"),
    Piece(3, 3, "room", "Room.join"),
    Piece(3, 3, "room", "Room.is_full"),
    Piece(3, 3, "room", "Room.leave"),
    Piece(3, 3, "room", "Room.members"),
    Piece(3, 3, "room", "Room.others"),
    Piece(3, 3, "room", "Room.default_name"),
    Piece(4, 4, "protocol", "clean_text"),
    Piece(5, 5, "outbox", "Outbox.send"),
    Piece(5, 5, "outbox", "Outbox.flush"),
    Piece(5, 5, "outbox", "Outbox.has_backlog"),
    Piece(5, 5, "outbox", "Outbox.write_now"),
    Piece(5, 5, "outbox", "wait_for_socket"),
    Piece(6, 6, "server", "ChatServer.start"),
    Piece(6, 6, "server", "ChatServer.accept_loop"),
    Piece(6, 6, "server", "ChatServer.admit"),
    Piece(6, 6, "server", "ChatServer.serve"),
    Piece(6, 6, "server", "ChatServer.handle"),
    Piece(6, 6, "server", "ChatServer.handle_lines"),
    Piece(6, 6, "server", "ChatServer.broadcast_lines"),
    Piece(6, 6, "server", "ChatServer.say_goodbye"),
    Piece(6, 6, "server", "ChatServer.farewell"),
    Piece(6, 6, "server", "ChatServer.stop"),
    Piece(7, 7, "client", "ChatClient.step"),
    Piece(7, 7, "client", "ChatClient.from_server"),
    Piece(7, 7, "client", "ChatClient.from_keyboard"),
    Piece(7, 7, "client", "ChatClient.show_unfinished"),
    Piece(7, 7, "client", "run"),
    Piece(7, 7, "client", "receive"),
    Piece(7, 7, "client", "send_typed"),
    Piece(7, 7, "client", "send_all"),
    Piece(7, 7, "client", "leave"),
    Piece(7, 7, "client", "connect"),
    Piece(8, 8, "measure", "percentile"),
    Piece(8, 8, "measure", "summary"),
    Piece(9, 9, "cli", "explain_listen_error"),
    Piece(10, 9, "interop", "verdict"),
    Piece(10, 9, "interop", "joined"),
    Piece(10, 9, "interop", "relayed"),
    Piece(10, 9, "interop", "renamed"),
    Piece(10, 9, "interop", "goodbyes"),
)
"""Every exercise of the course, in the module where it lives."""

NEEDED_BY = {
    "server": (1, 2, 3, 4, 5, 6, 9),
    "client": (1, 2, 4, 7),
    "interop": (1, 2, 4, 7, 10),  # python -m chatroom.interop: your clients, your verdict
}
"""The exercises each script runs on: it will not start until they are written."""

STUB = 'raise NotImplementedError("exercise {exercise} (lesson {lesson}): {name}")'
_STUB_FOUND = re.compile(r'NotImplementedError\(\s*"exercise (\d+) \(lesson (\d+)\): ([\w.]+)"')
_CHALLENGE_STUB = re.compile(r'NotImplementedError\(\s*"challenge (\d+): ([\w.]+)"')
_HERE = Path(__file__).resolve().parent


class PieceMissing(NotImplementedError):
    """A piece of the chat room that is still a stub; ``str(error)`` says which, in one line."""


def stub_for(piece):
    """The line that stands for ``piece`` in the students' copy."""
    return STUB.format(**piece._asdict())


def missing(exercises=None):
    """The pieces, of ``exercises`` (default: all), that are still stubs, in the
    order the lessons set them (PIECES)."""
    wanted = set(exercises) if exercises is not None else None
    found = set()
    for module in sorted({piece.module for piece in PIECES}):
        source = (_HERE / f"{module}.py").read_text(encoding="utf-8")
        for exercise, lesson, name in _STUB_FOUND.findall(source):
            if wanted is None or int(exercise) in wanted:
                found.add(Piece(int(exercise), int(lesson), module, name))
    order = {piece: number for number, piece in enumerate(PIECES)}
    return sorted(found, key=lambda piece: (order.get(piece, len(order)), piece))


def explain(piece):
    """One line: which piece is missing, where to write it and how to check it."""
    return (f"exercise {piece.exercise} (lesson {piece.lesson}) is not done yet: "
            f"write {piece.name} in chatroom/{piece.module}.py, then run the check "
            f"at the end of lesson {piece.lesson}")


def require(*exercises):
    """Raise PieceMissing, naming the first unwritten piece of ``exercises``."""
    absent = missing(exercises)
    if absent:
        raise PieceMissing(explain(absent[0]))


def require_pieces(*names):
    """Raise PieceMissing, naming the first of the pieces ``names`` (such as
    "ChatServer.accept_loop") that is unwritten: for a lesson cell that needs
    only some pieces of an exercise."""
    absent = {piece.name: piece for piece in missing()}
    for name in names:
        if name in absent:
            raise PieceMissing(explain(absent[name]))


def require_for(script):
    """Raise PieceMissing if ``script`` ("server", "client" or "interop") cannot run yet."""
    require(*NEEDED_BY[script])


def require_written(cls):
    """Raise PieceMissing while the file that defines ``cls`` (a challenge) holds a stub."""
    path = Path(inspect.getsourcefile(cls) or "")
    found = _CHALLENGE_STUB.search(path.read_text(encoding="utf-8")) if path.is_file() else None
    if found:
        number, name = found.groups()
        raise PieceMissing(f"challenge {number} is not done yet: write {name} in "
                           f"exercises/{path.name}, then check it with "
                           f"python tests/grade.py --student -k ch{number}")
