"""The sandbox side of grading: runs a student's code, one request at a time.

    python -I runner.py COPY      (started by tests/grading/sandbox.py, never by hand)

It reads requests as JSON lines on standard input and answers each with one
JSON line: ``{"ok": VALUE}`` or ``{"error": {"type", "mro", "message"}}``. Values
are plain data: None, bool, int, float, str, lists, dicts with str keys,
``{"$bytes": base64}``, ``{"$tuple": [...]}``, and ``{"$handle": n, "$type": name}``
for any other object, which stays here and is named by its number in later
requests. So nothing the student's code returns is ever an object in the
grader's process: a value that "equals anything" arrives as a handle.

The requests (``op``):
    new     {"target": "chatroom.protocol:LineBuffer", "args": [...], "kwargs": {...}}
    call    {"target": "chatroom.cli:parse_port", "args": [...], "kwargs": {...}}
    method  {"obj": n, "name": "feed", "args": [...], "kwargs": {...}}
    get     {"obj": n, "name": "broken"}
    set     {"obj": n, "name": "name", "value": ...}
    raised  {"target": ..., "args": [...]}   call it; the exception it raises, kept here (or None)
    threads {"calls": [[call, ...], ...], "rounds": k, "switch": s}
            each list of method calls ({"obj", "name", "args"}) in a thread of its own, all
            started together, ``rounds`` times over, with sys.setswitchinterval(s) meanwhile;
            returns, per thread, the error it met (a str) or None
Any request with ``"keep": true`` gets its result as a handle, even a list.
    connect {"port": p}                  a TCP socket to the grader on 127.0.0.1
    pipe    {}                           a pipe, as a keyboard: (its read end, a Typist for the other)
    list    {}                           a new list, to pass as ``{"$events": n}``: its ``append``
    events  {"obj": n}                   what that list collected
    spy     {"obj": n, "name": "send"}   count the calls of a method from now on
    calls   {"obj": n, "name": "send"}   how many calls so far
A target is "module:name" (a module of the copy, such as chatroom.server) or
"exercises/FILE.py:name" (a challenge). Standard library only: this runs in the
sandbox's Python, which may be older and have nothing installed.
"""

import base64
import importlib
import importlib.util
import json
import os
import socket
import sys
import threading
import traceback
from pathlib import Path

SOCKET_TIMEOUT = 2.0


class Runner:
    def __init__(self, copy):
        self.copy = Path(copy)
        self.objects = {}
        self.spies = {}

    # -- values ------------------------------------------------------------------------
    def keep(self, value):
        number = len(self.objects) + 1
        self.objects[number] = value
        return {"$handle": number, "$type": type(value).__name__}

    def encode(self, value, depth=0):
        if depth > 20:
            return self.keep(value)
        if value is None or type(value) in (bool, int, float, str):
            return value
        if type(value) in (bytes, bytearray):
            return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
        if type(value) is tuple:
            return {"$tuple": [self.encode(item, depth + 1) for item in value]}
        if type(value) is list:
            return [self.encode(item, depth + 1) for item in value]
        if type(value) is dict and all(type(key) is str for key in value):
            return {key: self.encode(item, depth + 1) for key, item in value.items()}
        return self.keep(value)

    def decode(self, value):
        if isinstance(value, list):
            return [self.decode(item) for item in value]
        if isinstance(value, dict):
            if "$bytes" in value:
                return base64.b64decode(value["$bytes"])
            if "$tuple" in value:
                return tuple(self.decode(item) for item in value["$tuple"])
            if "$handle" in value:
                return self.objects[value["$handle"]]
            if "$events" in value:
                return self.objects[value["$events"]].append
            return {key: self.decode(item) for key, item in value.items()}
        return value

    # -- what can be asked --------------------------------------------------------------
    def find(self, target):
        place, _, name = target.partition(":")
        if place.endswith(".py"):
            path = self.copy / place
            if not path.is_file():
                raise FileNotFoundError(f"{place} is missing")
            key = "graded_" + path.stem
            if key not in sys.modules:
                spec = importlib.util.spec_from_file_location(key, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[key] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[key]
                    raise
            module = sys.modules[key]
        else:
            module = importlib.import_module(place)
        value = module
        for part in name.split(".") if name else []:
            value = getattr(value, part)
        return value

    def handle(self, request):
        op = request["op"]
        args = self.decode(request.get("args", []))
        kwargs = self.decode(request.get("kwargs", {}))
        if op in ("new", "call"):
            return self.find(request["target"])(*args, **kwargs)
        if op == "raised":
            try:
                self.find(request["target"])(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 -- the exception is the answer
                return self.keep(error)
            return None
        if op == "set":
            return setattr(self.objects[request["obj"]], request["name"],
                           self.decode(request["value"]))
        if op == "threads":
            return self.threads(request["calls"], request.get("rounds", 1),
                                request.get("switch", sys.getswitchinterval()))
        if op == "method":
            return getattr(self.objects[request["obj"]], request["name"])(*args, **kwargs)
        if op == "get":
            return getattr(self.objects[request["obj"]], request["name"])
        if op == "connect":
            return socket.create_connection(("127.0.0.1", request["port"]), timeout=SOCKET_TIMEOUT)
        if op == "pipe":
            read_end, write_end = os.pipe()
            return (open(read_end, "rb", buffering=0), Typist(write_end))
        if op == "events":
            return list(self.objects[request["obj"]])
        if op == "list":
            return self.keep([])
        if op == "spy":
            return self.spy(self.objects[request["obj"]], request["name"])
        if op == "calls":
            return self.spies.get((request["obj"], request["name"]), [0])[0]
        raise ValueError(f"unknown request {op!r}")

    def threads(self, plans, rounds, switch):
        barrier = threading.Barrier(len(plans))
        errors = [None] * len(plans)

        def work(number, plan):
            try:
                barrier.wait(10)
                for _ in range(rounds):
                    for call in plan:
                        getattr(self.objects[call["obj"]], call["name"])(*self.decode(call.get("args", [])))
            except Exception as error:  # noqa: BLE001 -- reported to the grader as text
                errors[number] = f"{type(error).__name__}: {error}"

        before = sys.getswitchinterval()
        sys.setswitchinterval(switch)
        try:
            workers = [threading.Thread(target=work, args=(n, plan), daemon=True)
                       for n, plan in enumerate(plans)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(30)
        finally:
            sys.setswitchinterval(before)
        return [error or ("still running after 30 s" if worker.is_alive() else None)
                for error, worker in zip(errors, workers)]

    def spy(self, obj, name):
        number = next(key for key, value in self.objects.items() if value is obj)
        count = self.spies.setdefault((number, name), [0])
        original = getattr(obj, name)

        def counted(*args, **kwargs):
            count[0] += 1
            return original(*args, **kwargs)

        setattr(obj, name, counted)
        return None


class Typist:
    """The writing end of a keyboard pipe: ``type(data)``, and ``end()`` for Ctrl-D."""

    def __init__(self, fd):
        self.fd = fd

    def type(self, data):
        os.write(self.fd, data)

    def end(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def error_record(error):
    return {"type": type(error).__name__,
            "mro": [cls.__name__ for cls in type(error).__mro__],
            "message": str(error)[:2000],
            "where": "".join(traceback.format_exception_only(type(error), error))[-500:]}


def main():
    copy = sys.argv[1]
    # Our answers go out on a private copy of standard output; whatever the student's
    # code prints goes to standard error, which the grader reads and caps.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    sys.path.insert(0, copy)
    sys.dont_write_bytecode = True
    socket.setdefaulttimeout(SOCKET_TIMEOUT)
    threading.stack_size(512 * 1024)  # many threads fit in the sandbox's memory limit
    runner = Runner(copy)
    lock = threading.Lock()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            result = runner.handle(request)
            answer = {"ok": runner.keep(result) if request.get("keep") else runner.encode(result)}
        except BaseException as error:  # noqa: BLE001 -- every failure is reported, as data
            answer = {"error": error_record(error)}
        with lock:
            answers.write(json.dumps(answer) + "\n")
            answers.flush()


if __name__ == "__main__":
    main()
