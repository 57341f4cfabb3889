"""Find each student's copy of the kit in a class folder, as an LMS or a student hands it in.

A class folder holds one entry per student: a folder, or a ``.zip`` (named after
the student: ``alice/`` or ``alice.zip``). Inside it, the copy of the kit (a
folder with a ``chatroom/`` folder) may sit at any depth up to MAX_DEPTH, once
or several times (``chatroom-main/`` and ``chatroom-main (1)/`` from two
downloads), or only in a zip the student put there.

Several copies: the one graded has the most pieces written (the fewest stubs
left), and of those the most recently modified; the note says which, and names
the others. The grader runs as root here, before any sandbox: it never follows
a link, reads the student's files with isolation.read_inside, and unpacks a zip
only into a folder of its own, refusing links, paths that leave that folder, and
archives beyond MOST_FILES files or MOST_BYTES bytes.
"""

import os
import re
import stat
import sys
import zipfile
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent / "grading"))
import isolation  # noqa: E402

MAX_DEPTH = 6  # folders below the student's own, where a copy is looked for
MOST_ENTRIES = 20_000  # folder entries looked at per student, so a huge tree cannot stall us
MOST_FILES = 5_000  # in one zip
MOST_BYTES = 200 << 20  # unpacked, from one zip
NOT_LOOKED_IN = {".git", "__pycache__", ".venv", "venv", "node_modules", ".ipynb_checkpoints"}
STUB = re.compile(r'NotImplementedError\(\s*"(exercise \d+ \(lesson \d+\)|challenge \d+): ')


class UnpackError(Exception):
    """Why a zip was not unpacked; ``str()`` is a sentence for the report."""


def students(class_folder, leave_out=()):
    """{student name: folder or zip} for every entry of ``class_folder``, in name order.

    A zip is named after its stem, unless a folder already has that name.
    """
    left_out = {Path(path).resolve() for path in leave_out}
    folders, zips = {}, {}
    for path in sorted(Path(class_folder).iterdir()):
        if path.name.startswith((".", "_")) or path.is_symlink() or path.resolve() in left_out:
            continue
        if path.is_dir():
            folders[path.name] = path
        elif path.is_file() and path.suffix.lower() == ".zip":
            zips[path.stem] = path
    named = dict(folders)
    for stem, path in zips.items():
        named[path.name if stem in named else stem] = path
    return dict(sorted(named.items()))


def find_copies(folder, depth=MAX_DEPTH):
    """Every copy of the kit in ``folder`` (itself included), at most ``depth`` folders down.

    A copy is a folder that holds a ``chatroom/`` folder; nothing below a copy is
    looked at, and no link is followed.
    """
    found, looked = [], 0
    level = [Path(folder)]
    for _ in range(depth + 1):
        below = []
        for place in level:
            if _is_folder(place / "chatroom"):
                found.append(place)
                continue
            try:
                entries = sorted(os.scandir(place), key=lambda entry: entry.name)
            except OSError:
                continue
            for entry in entries:
                looked += 1
                if looked > MOST_ENTRIES:
                    return found
                if entry.name not in NOT_LOOKED_IN and entry.is_dir(follow_symlinks=False):
                    below.append(Path(entry.path))
        level = below
    return found


def zips_in(folder, depth=MAX_DEPTH):
    """The ``.zip`` files in ``folder``, at most ``depth`` folders down, without following links."""
    found = []
    for parent, dirs, files in os.walk(folder):  # os.walk never follows links by default
        if len(Path(parent).relative_to(folder).parts) >= depth:
            dirs[:] = []
        dirs[:] = sorted(name for name in dirs if name not in NOT_LOOKED_IN)
        found += [Path(parent) / name for name in sorted(files) if name.lower().endswith(".zip")]
        if len(found) > 20:
            break
    return found[:20]


def _is_folder(path):
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def stubs_left(copy):
    """How many pieces of ``copy`` are still their stubs (read as text, links not followed)."""
    left = 0
    for folder in ("chatroom", "exercises"):
        for name in isolation.listed_inside(copy, folder):
            if name.endswith(".py") and name != "pieces.py":  # pieces.py's docstring shows a stub
                left += len(STUB.findall(isolation.read_inside(copy, f"{folder}/{name}")))
    return left


def last_modified(copy):
    """The newest modification time of the copy's .py files (links not followed)."""
    newest = 0.0
    for folder in ("chatroom", "exercises"):
        for name in isolation.listed_inside(copy, folder):
            try:
                newest = max(newest, os.lstat(Path(copy) / folder / name).st_mtime)
            except OSError:
                pass
    return newest


def choose(copies, base):
    """(the copy to grade, a sentence on where it was found) among ``copies`` found in ``base``."""
    def where(copy):
        relative = Path(copy).relative_to(base).as_posix()
        return "the folder itself" if relative == "." else f"{relative}/"

    if len(copies) == 1:
        copy = copies[0]
        return copy, ("" if copy == Path(base) else f"found the copy inside {where(copy)}")
    ranked = sorted(copies, key=lambda copy: (stubs_left(copy), -last_modified(copy), str(copy)))
    chosen, others = ranked[0], ranked[1:]
    return chosen, (f"{len(copies)} copies: graded {where(chosen)} (the most pieces written, "
                    f"{stubs_left(chosen)} stubs left; then the newest), not "
                    + ", ".join(where(copy) for copy in others))


def unpack(archive, target, most_files=MOST_FILES, most_bytes=MOST_BYTES):
    """Unpack ``archive`` into the new folder ``target``, safely, or raise UnpackError."""
    try:
        with zipfile.ZipFile(archive) as opened:
            members = opened.infolist()
            if len(members) > most_files:
                raise UnpackError(f"it holds more than {most_files:,} files")
            if sum(member.file_size for member in members) > most_bytes:
                raise UnpackError(f"it unpacks to more than {most_bytes:,} bytes")
            target.mkdir(mode=0o700)
            budget = most_bytes
            for member in members:
                budget -= _unpack_one(opened, member, target, budget)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError,
            EOFError, ValueError) as problem:  # broken, encrypted, or an unknown compression
        raise UnpackError(f"it is not a zip that can be read ({problem})") from None
    except OSError as problem:
        raise UnpackError(f"it could not be unpacked ({problem.strerror or problem})") from None


def _unpack_one(opened, member, target, budget):
    """Write one member under ``target``; return the bytes written."""
    parts = PurePosixPath(member.filename.replace("\\", "/")).parts
    if not parts or member.filename.startswith(("/", "\\")) or ".." in parts \
            or re.match(r"[A-Za-z]:", parts[0]):
        raise UnpackError(f"it holds a path outside its folder: {member.filename[:80]!r}")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise UnpackError(f"it holds a link: {member.filename[:80]!r}")
    path = target.joinpath(*parts)
    if member.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                         0o600)
    with opened.open(member) as source, open(descriptor, "wb") as copy:
        for chunk in iter(lambda: source.read(1 << 16), b""):
            written += len(chunk)
            if written > budget:  # a size in the header can lie
                raise UnpackError("it unpacks to more than its header says, or than we allow")
            copy.write(chunk)
    return written


def locate(entry, scratch):
    """(the copy of the kit to grade, a note for the report, True if it is one) for one
    student's entry.

    ``entry`` is a folder or a zip; zips are unpacked under ``scratch``, a folder of ours.
    With no copy anywhere, the entry itself is graded (every piece is then missing) and
    the note says why.
    """
    entry = Path(entry)
    notes = []
    if entry.is_file():
        unpacked = Path(scratch) / "unpacked"
        try:
            unpack(entry, unpacked)
        except UnpackError as problem:
            empty = Path(scratch) / "empty"
            empty.mkdir(exist_ok=True)
            return empty, f"{entry.name} was not unpacked: {problem}", False
        base, notes = unpacked, [f"unpacked {entry.name}"]
    else:
        base = entry
    copies = find_copies(base)
    if not copies and entry.is_dir():
        for number, archive in enumerate(zips_in(entry)):
            unpacked = Path(scratch) / f"zip{number}"
            try:
                unpack(archive, unpacked)
            except UnpackError as problem:
                notes.append(f"{archive.relative_to(entry).as_posix()} was not unpacked: {problem}")
                continue
            copies += find_copies(unpacked)
            notes.append(f"unpacked {archive.relative_to(entry).as_posix()}")
        if copies:
            base = Path(scratch)
    if not copies:
        notes.append(f"no copy of the kit (a folder with chatroom/ in it) within {MAX_DEPTH} "
                      "folders")
        return base, "; ".join(notes), False
    copy, where = choose(copies, base)
    return copy, "; ".join(notes + ([where] if where else [])), True
