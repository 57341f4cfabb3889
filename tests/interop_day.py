"""Interop day: every student's client against every student's server.

    python tests/grade.py CLASS --interop --out DIR [--jobs N]

writes DIR/interop.csv (a row per client, a column per server: "ok" or what
failed first), DIR/interop.png (the same matrix, green and red) and prints
which servers no client could use and which clients worked nowhere.

The walls are grading's (tests/grading/isolation.py): each student's server,
and each student's client, runs in a sandbox of its own, as the user of a slot
of its own, with the instructor's folders out of sight. Where root may make
namespaces, this file runs itself, as the worker (``--worker SPEC RESULT``), in
a network namespace of its own that reaches nothing outside, and gives each
sandbox a network namespace of its own inside it, joined to the worker's by a
veth pair (``Wires``, in interop_network.py): a machine of its own, with one
address, as in a lab.
The kernel then keeps each student to their own address and their own ports:
a client cannot connect as a classmate (the servers' limits and flood control
per address would count it against them), nor fill the room from a thousand
loopback addresses, nor take every port; a server cannot reach the other
servers nor the grader's own server, only the clients that come to it. The
worker has a mount namespace of its own too, in which each sandbox's folder is
a tmpfs with room for its copy and isolation.ROOM_BYTES more: a sandbox that writes
without end fills its own folder, not the disk. Where the kernel has no veth
pairs, everyone shares the worker's loopback instead, and where namespaces
are refused, the machine's network; each client student then connects from an
address of their own (127.0.0.10 and up), which a hostile client can take.

The worker starts every server once, in its sandbox (``DefendedServer``: the
student's core with the kit's defences, as ``python -m chatroom.server`` runs
it), and keeps it up. Then, ``--jobs`` at a time, it starts each student's
client sandbox, which runs ``chatroom.interop.chat`` against every server in
turn (from a different server each, so that the servers share the load). A
chat comes back as plain data through the sandbox's answer channel; the
verdict is the instructor's ``chatroom.interop.verdict`` of that data, never
the student's code's. The grader's own client (the instructor's kit) chats
with every server first, and every client chats with the grader's own server
(the instructor's DefendedServer, in the worker) first: the summary says what
they got, to tell a broken client from broken servers. A client's sandbox that
dies or hangs with a server is started again, and chats with the grader's
server at once: only if it dies or hangs there too is the rest of its row given
up, so that no server costs a classmate's client more than its own cell.

When the worker has ended, every process of every slot's user is killed, and
only then are the results read and the reports written.
"""

import argparse
import csv
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRADING = ROOT / "tests" / "grading"
sys.path[:0] = [str(GRADING), str(ROOT)]
import isolation  # noqa: E402
import sandbox as sandboxes  # noqa: E402
from chatroom import interop, pieces  # noqa: E402  -- the instructor's: trusted
from chatroom.defences import DefendedServer  # noqa: E402
from interop_network import KIT_CLIENT_ADDRESS, KIT_SERVER_ADDRESS, WiredJail, Wires  # noqa: E402

CHAT_SECONDS = 6.0  # one chat, at most; a working pair takes milliseconds
MARGIN_SECONDS = 4.0  # the sandbox's answer may come this much later
# A client's sandbox that died or hung with this many classmates' servers (each costs up to
# a deadline) is given up: the kit's chat bounds its own time, so no server kills a client
# that works, and two hostile servers cannot make a classmate's client reach this.
MOST_DEATHS = 3
FIRST_SOURCE = IPv4Address("127.0.0.10")  # the first client student's address
KIT_SOURCE = "127.0.0.2"  # the grader's own client
WORKER_SECONDS = 3600
CELL_CHARACTERS = 300  # what a cell may say: the sandboxes choose some of its words


class InteropError(Exception):
    """Why interop day cannot run as asked; ``str()`` is the one-line message."""


# -- the instructor's side: the class in, the reports out --------------------------

def run(class_folder, out, jobs=None):
    """Run interop day for ``class_folder`` into ``out``; the exit code."""
    import reports  # beside this file
    import submissions
    entries = submissions.students(class_folder, leave_out=[out])
    if not entries:
        raise InteropError(f"{class_folder} holds no student folders "
                           "(one folder or zip per student)")
    walls = isolation.walls()
    print(isolation.describe(walls), flush=True)
    wired = walls == "full" and Wires.works()
    if wired:
        print("interop day: every server and client in a network namespace of its own, "
              "joined only to the grader's, with one address", flush=True)
    elif walls == "full":
        print("interop day: every server and client in ONE network namespace of its own, "
              "loopback only (this kernel has no veth pairs)", flush=True)
    plt = reports.plotting()  # now, before any student's code has run
    jobs = max(1, jobs or 4 * (os.cpu_count() or 1))  # chats mostly wait on each other
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="interop-") as scratch:
        scratch = Path(scratch)
        students = []
        for number, (name, entry) in enumerate(entries.items()):
            place = scratch / str(number)
            place.mkdir()
            copy, found, is_copy = submissions.locate(entry, place)
            if found:
                print(f"{name}: {found}", file=sys.stderr)
            students.append({"name": name, "copy": str(copy),
                             "problem": None if is_copy else f"no copy of the kit: {found}"})
        hidden = [ROOT, Path(class_folder).resolve(), Path(out).resolve(), scratch]
        result = run_worker(students, hidden, jobs, scratch, wired)
    out.mkdir(parents=True, exist_ok=True)
    names = [student["name"] for student in students]
    write_csv(out / "interop.csv", names, result["cells"])
    if plt is not None:
        draw_matrix(plt, names, result["cells"], out / "interop.png")
    print(f"Interop day: {len(names)} clients x {len(names)} servers in "
          f"{time.monotonic() - started:.0f} s into {out}: interop.csv"
          + (", interop.png" if plt is not None else " (no picture: matplotlib is not installed)"))
    print("\n".join(summary(names, result)))
    return 0


def run_worker(students, hidden, jobs, scratch, wired=False):
    """Run the worker in a network namespace of its own where allowed; its result, read
    once every process of the slots' users has been killed."""
    slots = isolation.Slots(len(students) + jobs) if isolation.available() else None
    if slots is not None and len(slots.numbers) < len(students) + jobs:
        slots.release()
        raise InteropError(f"{len(students) + jobs} sandbox users are needed and only "
                           f"{len(slots.numbers)} are free: other graders are running")
    spec, result = scratch / "spec.json", scratch / "result.json"
    own_network = isolation.namespaces_allowed()
    spec.write_text(json.dumps({"students": students, "hidden": [str(path) for path in hidden],
                                "jobs": jobs, "slots": slots.numbers if slots else None,
                                "network_namespace": own_network,
                                "wires": own_network and wired}), encoding="utf-8")
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(spec), str(result)]
    if own_network:
        # and a mount namespace of its own, for the sandboxes' folders (Day.sandbox)
        command = ["unshare", "--net", "--mount", "--propagation", "private", "--", *command]
    ended = None
    try:
        with isolation.OutOfSight(hidden):
            ended = subprocess.run(command, stdin=subprocess.DEVNULL, timeout=WORKER_SECONDS,
                                   env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1")).returncode
    except subprocess.TimeoutExpired:
        ended = f"it was stopped after {WORKER_SECONDS} s"
    finally:  # interrupted too: whatever the worker left of the students' code goes
        survivors = [number for number in (slots.numbers if slots else ())
                     if not isolation.kill_user(isolation.BASE_UID + number)]
        if slots is not None:
            slots.release()
    if survivors:
        raise InteropError("processes of the students' code could not all be ended: "
                           "no result is kept")
    if ended != 0 or not result.is_file():
        why = ended if isinstance(ended, str) else f"exit code {ended}"
        raise InteropError(f"the interop worker failed ({why})")
    return json.loads(result.read_text(encoding="utf-8"))


def write_csv(path, names, cells):
    """A row per client, a column per server: "ok" or what failed first."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        table = csv.writer(file)
        table.writerow(["client \\ server", *map(plain, names)])
        for client in names:
            table.writerow([plain(client), *(cells[client][server] for server in names)])


def draw_matrix(plt, names, cells, path):
    """The matrix as a picture: green where the pair worked, red where not."""
    from matplotlib.colors import ListedColormap
    worked = [[1 if cells[client][server] == "ok" else 0 for server in names] for client in names]
    side = max(4.0, 0.32 * len(names) + 2.5)
    figure, axes = plt.subplots(figsize=(side, side))
    axes.imshow(worked, cmap=ListedColormap(["#d62728", "#2ca02c"]), vmin=0, vmax=1)
    axes.set_xticks(range(len(names)))
    axes.set_xticklabels([plain(name, 40) for name in names], rotation=90)
    axes.set_yticks(range(len(names)))
    axes.set_yticklabels([plain(name, 40) for name in names])
    axes.set_xticks([place - 0.5 for place in range(1, len(names))], minor=True)
    axes.set_yticks([place - 0.5 for place in range(1, len(names))], minor=True)
    axes.grid(which="minor", color="white", linewidth=1)
    axes.tick_params(which="minor", length=0)
    axes.set_xlabel("server")
    axes.set_ylabel("client")
    axes.xaxis.set_label_position("top")
    axes.xaxis.tick_top()
    ok = sum(map(sum, worked))
    axes.set_title(f"Interop day: {ok} of {len(names) ** 2} pairs work (green)", pad=12)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)


def summary(names, result):
    """The lines for the terminal: how many pairs worked, the servers no client could use
    and the clients that worked nowhere, each with why."""
    cells, kit = result["cells"], result["kit"]
    useless = [server for server in names if all(cells[client][server] != "ok" for client in names)]
    nowhere = [client for client in names if all(cells[client][server] != "ok" for server in names)]
    ok = sum(cells[client][server] == "ok" for client in names for server in names)
    servers = [f"  {plain(server)}: "
               f"{result['servers'][server] or 'the kit client got: ' + kit[server]}"
               for server in useless]
    clients = [f"  {plain(client)}: "
               f"{result['clients'][client] or most_common(cells[client].values())}"
               + (f"; with the kit's server: {result['kit_clients'][client]}"
                  if client in result["kit_clients"] else "") for client in nowhere]
    return ([f"{ok} of {len(names) ** 2} pairs worked."]
            + [f"Servers no client could use ({len(servers)}):" if servers
               else "Servers no client could use: none."] + servers
            + [f"Clients that worked nowhere ({len(clients)}):" if clients
               else "Clients that worked nowhere: none."] + clients)


def most_common(reasons):
    return Counter(reasons).most_common(1)[0][0]


# -- the worker: in the interop network namespace ----------------------------------

def first_missing(copy, exercises):
    """The one line (pieces.explain) naming the first piece of ``exercises`` that is still a
    stub in ``copy``, read as text without following links; or None."""
    stubs = set()
    for filename in isolation.listed_inside(copy, "chatroom"):
        if filename.endswith(".py") and filename != "pieces.py":  # its docstring shows a stub
            text = isolation.read_inside(copy, f"chatroom/{filename}")
            stubs |= {(int(exercise), name)
                      for exercise, _, name in pieces._STUB_FOUND.findall(text)}
    for piece in pieces.PIECES:
        if piece.exercise in exercises and (piece.exercise, piece.name) in stubs:
            return pieces.explain(piece).split(", then run the check")[0]
    return None


def needs_files(copy, *names):
    """Why ``copy`` cannot take part, when it lacks one of the package's ``names``; or None."""
    have = isolation.listed_inside(copy, "chatroom")
    absent = [name for name in names if name not in have]
    return f"the copy has no chatroom/{absent[0]} (an older kit?)" if absent else None


def checked(record, nick):
    """``record`` if it has the form ``chat`` gives it (it came out of a sandbox), with the
    nick the grader asked for; else ValueError."""
    kinds = {"problem": (str, type(None)), "done": list, "screens": list, "raised": list,
             "closed": list}
    if not isinstance(record, dict) or any(not isinstance(record.get(key), kind)
                                           for key, kind in kinds.items()):
        raise ValueError("not the form of a chat")
    screens, raised, closed = record["screens"], record["raised"], record["closed"]
    if not (len(screens) == len(raised) == len(closed) == 2
            and all(isinstance(line, str) for lines in screens for line in lines)
            and all(isinstance(value, (str, type(None))) for value in raised)
            and all(isinstance(value, bool) for value in closed)
            and all(isinstance(step, str) for step in record["done"])):
        raise ValueError("not the form of a chat")
    return dict(record, nick=nick, seconds=CHAT_SECONDS)


def plain(text, most=CELL_CHARACTERS):
    """``text`` made safe for the csv, the picture and the terminal: printable characters
    only (a lone surrogate, from a sandbox's JSON or a file name, cannot be written as
    UTF-8), on one line, and at most ``most`` of them."""
    text = "".join(char if char.isprintable() and not 0xD800 <= ord(char) <= 0xDFFF else "?"
                   for char in str(text)[:most + 1])
    return text if len(text) <= most else text[:most - 3] + "..."


def short(failure):
    """A sandbox's failure in a few words: "did not finish within 10 s", say."""
    return str(failure).split(":")[0]


class Day:
    """The worker's day: the servers, started once, and each client's chats with them."""

    def __init__(self, spec):
        self.students, self.hidden, self.jobs = spec["students"], spec["hidden"], spec["jobs"]
        self.namespaces = spec["network_namespace"]  # and the sandboxes' other namespaces
        self.names = [student["name"] for student in self.students]
        slots = spec["slots"] or [None] * (len(self.names) + self.jobs)
        self.server_slots, self.client_slots = slots[:len(self.names)], slots[len(self.names):]
        self.runner_home = (isolation.install_runner(sandboxes.RUNNER) if isolation.available()
                            else None)
        self.scratch = Path(tempfile.mkdtemp(prefix="interop-day-", dir=isolation.scratch_folder()))
        os.chmod(self.scratch, 0o711)  # each sandbox's user passes through to its own folder
        self.servers = {}  # name -> (its sandbox, the server in it, its port)
        self.server_problems = {name: None for name in self.names}
        self.client_problems = {name: None for name in self.names}
        self.kit, self.cells = {}, {name: {} for name in self.names}
        self.kit_address, self.kit_clients = None, {}  # the kit's server, what clients got
        self.local_sources = sys.platform.startswith("linux")  # all of 127/8 is loopback there
        self.wires = Wires() if spec.get("wires") else None
        self.holders = {}  # a sandbox -> the process that holds its network namespace
        self.mounted = []  # the sandboxes' folders that are a tmpfs of their own

    def source(self, number):
        """The address client student ``number`` connects from (None: the system's choice)."""
        return str(FIRST_SOURCE + number) if self.local_sources else None

    def sandbox(self, number, slot, role):
        """(a sandbox running student ``number``'s private copy as the user of ``slot``, the
        address it has: with Wires, of its own; else None, loopback's)."""
        place = self.scratch / f"{role}-{number}"
        holder, address = self.wires.new(role, number) if self.wires else (None, None)
        try:
            jail = (WiredJail(slot, self.hidden, self.runner_home, holder) if holder
                    else isolation.Jail(slot, self.hidden, self.runner_home))
            copy = place / "copy"
            if not copy.is_dir():  # a client's sandbox started again keeps its copy
                place.mkdir()
                self.bounded(place, Path(self.students[number]["copy"]))
                copy = isolation.private_copy(Path(self.students[number]["copy"]), place,
                                              jail.uid)
            box = sandboxes.Sandbox(copy, CHAT_SECONDS + MARGIN_SECONDS, jail)
        except BaseException:
            Wires.end(holder)
            raise
        self.holders[box] = holder
        return box, address

    def bounded(self, place, copy):
        """With namespaces, ``place`` is a tmpfs with room for the copy and no more than
        isolation.ROOM_BYTES besides (mounted in the worker's own mount namespace)."""
        if self.namespaces and isolation.bound_room(place, copy):
            self.mounted.append(place)

    def end(self, box):
        """End a sandbox, everything in it, and its network namespace."""
        box.close()
        Wires.end(self.holders.pop(box, None))

    def cannot_play(self, number, role, *files):
        """Why student ``number`` cannot take ``role`` ("server" or "client"), or None: the
        copy's own problem, a missing file, or a piece not written yet."""
        student = self.students[number]
        copy = Path(student["copy"])
        return (student["problem"] or needs_files(copy, *files)
                or first_missing(copy, pieces.NEEDED_BY[role]))

    def start_server(self, number):
        """Start student ``number``'s server and keep it up; then the grader's client tries it."""
        name = self.names[number]
        problem = self.cannot_play(number, "server", "server.py", "defences.py")
        if problem:
            self.server_problems[name] = f"server: {problem}"
            return
        try:
            box, host = self.sandbox(number, self.server_slots[number], "server")
        except (OSError, sandboxes.GraderFault) as fault:
            self.server_problems[name] = plain(f"the grader could not start a sandbox: {fault}")
            return
        host = host or "127.0.0.1"
        try:
            server = box.new("chatroom.defences:DefendedServer", host, 0, log_chat=False)
            server.start()
            port = server.get("address")[1]
            if type(port) is not int or not 0 < port < 65536:  # the student's property says
                raise TypeError(f"its address gives no port ({port!r:.40})")
        except (sandboxes.RemoteError, sandboxes.SandboxFailure, TypeError, IndexError,
                KeyError) as error:
            self.end(box)
            self.server_problems[name] = plain(f"the server did not start: {error}")
            return
        self.servers[name] = (box, server, (host, port))
        self.kit[name] = self.kit_chat(host, port)

    def kit_chat(self, host, port):
        """What the grader's own client (the instructor's kit) got from a server, in a few words."""
        sources = ((KIT_CLIENT_ADDRESS,) * 2 if self.wires else
                   (KIT_SOURCE,) * 2 if self.local_sources else (None, None))
        try:
            record = interop.chat(host, port, nick="kitclient", sources=sources,
                                  seconds=CHAT_SECONDS)
        except pieces.PieceMissing as missing:
            return f"the kit's client cannot run here: {missing}"
        return interop.verdict(record)[0]

    def run_client(self, number, slot):
        """Student ``number``'s client chats with every server that runs, in one sandbox (a new
        one after the sandbox died or hung).

        A sandbox that died or hung with a server may be the server's doing: a classmate's
        server may not cost this client the rest of its row. So a new sandbox chats with the
        grader's own server at once, and only if it dies or hangs there too, or it has died
        or hung with MOST_DEATHS servers, is the row given up (what remains would cost a
        deadline each)."""
        name = self.names[number]
        problem = self.cannot_play(number, "client", "client.py", "interop.py")
        if problem:
            self.client_problems[name] = f"client: {problem}"
            return
        box, address, given_up, deaths = None, None, None, 0
        try:
            # The kit's server first, then each student's, each client from another one.
            for server in [None] + self.names[number:] + self.names[:number]:
                if server is not None and server not in self.servers:
                    continue
                cells = self.kit_clients if server is None else self.cells[name]
                key = name if server is None else server
                if given_up:
                    cells[key] = given_up
                    continue
                if box is None:
                    box, address = self.sandbox(number, slot, "client")
                where = self.kit_address if server is None else self.servers[server][2]
                cells[key], died = self.chat(box, number, where, address)
                if died:  # the server's doing, or the client's? Ask the grader's server
                    self.end(box)
                    box, deaths = None, deaths + (server is not None)
                    if deaths >= MOST_DEATHS:
                        given_up = cells[key]
                        continue
                    box, address = self.sandbox(number, slot, "client")
                    again, died_again = self.chat(box, number, self.kit_address, address)
                    if died_again:
                        self.end(box)
                        box, given_up = None, again
        except (OSError, sandboxes.GraderFault) as fault:
            self.client_problems[name] = plain(f"the grader could not start a sandbox: {fault}")
        finally:
            if box is not None:
                self.end(box)
            self.clear(slot, self.scratch / f"client-{number}")

    def clear(self, slot, place):
        """Before the next student's client runs as the user of ``slot``: nothing of this one's
        is left, neither a process, nor its private copy, nor (without namespaces) its files
        in /tmp and its IPC objects."""
        if slot is not None:
            isolation.kill_user(isolation.BASE_UID + slot)
            if not self.namespaces:  # else they were the sandbox's own, and are gone
                isolation.sweep(isolation.BASE_UID + slot)
        for folder in [folder for folder in self.mounted if place in (folder, *folder.parents)]:
            isolation.unbound_room(folder)
            self.mounted.remove(folder)
        shutil.rmtree(place, ignore_errors=True)  # rmtree never follows a link out

    def chat(self, box, number, server, address=None):
        """(the verdict of one chat of client ``number`` (its sandbox at ``address``, if it
        has one of its own) with the server at ``server`` (host, port), True if its sandbox
        died or hung meanwhile)."""
        nick, source = f"carol{number}", address or self.source(number)
        try:
            record = box.call("chatroom.interop:chat", *server, nick=nick,
                              sources=[source, source], seconds=CHAT_SECONDS)
        except sandboxes.RemoteError as error:
            if error.is_a("NotImplementedError"):  # PieceMissing, or a stub the text check missed
                return plain(f"client: {error.message}"), False
            return plain(f"the client raised {error.kind}"), False
        except sandboxes.SandboxFailure as failure:
            return f"client: {short(failure)}", True
        try:
            return plain(interop.verdict(checked(record, nick))[0]), False
        except (ValueError, KeyError, TypeError):
            return "client: its chat's answer could not be read", False

    def results(self):
        """The day as plain data: every cell filled, a client's or a server's problem first;
        every sentence ``plain``."""
        cells = {client: {server: plain(self.client_problems[client]
                                        or self.server_problems[server]
                                        or self.cells[client].get(server, "not run"))
                          for server in self.names} for client in self.names}
        said = {key: {name: value if value is None else plain(value)
                      for name, value in found.items()}
                for key, found in (("servers", self.server_problems),
                                   ("clients", self.client_problems), ("kit", self.kit),
                                   ("kit_clients", self.kit_clients))}
        return {"cells": cells, **said}

    def close(self):
        """End every server's sandbox (everything in it dies: no need to ask the server to
        stop), make sure no process of a slot's user is left, and clear what the day wrote."""
        for box, _, _ in self.servers.values():
            self.end(box)
        for slot in self.server_slots + self.client_slots:
            self.clear(slot, self.scratch)
        if self.runner_home is not None:
            shutil.rmtree(self.runner_home, ignore_errors=True)


def work(spec_path, result_path):
    """The worker: run the day described in ``spec_path``; write the result once every
    sandbox has ended."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    if spec["network_namespace"]:
        isolation.loopback_up()  # the parent started us in a new one: loopback only
    isolation.become_reaper()
    sandboxes.HANG_BUDGET = float("inf")  # each chat has its own deadline: no budget to share
    day = Day(spec)
    try:
        with ThreadPoolExecutor(day.jobs) as pool:
            list(pool.map(day.start_server, range(len(day.names))))
        free = queue.Queue()
        for slot in day.client_slots:
            free.put(slot)

        def client(number):
            slot = free.get()
            try:
                day.run_client(number, slot)
            finally:
                free.put(slot)

        # The instructor's server (trusted code, in this process) for every client to try.
        host = KIT_SERVER_ADDRESS if day.wires else "127.0.0.1"
        with DefendedServer(host, 0, log_chat=False, on_event=lambda event: None) as kit:
            day.kit_address = (host, kit.address[1])
            with ThreadPoolExecutor(len(day.client_slots)) as pool:
                list(pool.map(client, range(len(day.names))))
    finally:
        day.close()
    Path(result_path).write_text(json.dumps(day.results()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    arguments = argparse.ArgumentParser(description="(tests/grade.py --interop) the worker")
    arguments.add_argument("--worker", nargs=2, required=True, metavar=("SPEC", "RESULT"))
    sys.exit(work(*arguments.parse_args().worker))
