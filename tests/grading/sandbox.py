"""The grader's side of a sandbox: a process that runs the student's code, and a way to ask it.

The grading tests never import a student's code. They ask a Sandbox, which
runs tests/grading/runner.py in a process of its own (isolated where the
system allows: see isolation.py), one request at a time, each with a
deadline, and gets back plain data only:

    sandbox = Sandbox(copy)
    lines = sandbox.new("chatroom.protocol:LineBuffer", max_bytes=10)
    lines.feed(b"hi\\n")                       # -> [b"hi"], a real list of real bytes
    sandbox.call("chatroom.cli:parse_port", "http")   # -> raises RemoteError("UsageError", ...)

Any other object stays in the sandbox; the grader holds a Remote that names
it. A request that does not answer in time, a sandbox that dies, prints too
much or breaks a limit, raises SandboxFailure with a sentence that says which;
so does an answer the grader cannot read (too large, not JSON, not data), for
only the student's code writes on that channel besides the runner. Only a
sandbox that cannot be started at all is the grader's fault (GraderFault).
"""

import base64
import json
import os
import selectors
import socket
import subprocess
import threading
import time
from pathlib import Path

import isolation

RUNNER = Path(__file__).resolve().parent / "runner.py"
REQUEST_SECONDS = 5.0
OUTPUT_LIMIT = 10 << 20  # what the student's code may print, in bytes
OUTPUT_KEPT = 4096  # what of it a report may quote
# A student whose every piece hangs would cost each exercise its first deadline. Once the
# calls that timed out have cost HANG_BUDGET seconds in all (one judge process grades one
# student), a call gets AFTER_BUDGET seconds at most: plenty for code that answers at all.
HANG_BUDGET = 30.0
AFTER_BUDGET = 1.0
HUNG = [0.0]  # seconds spent so far on calls that timed out


class RemoteError(Exception):
    """The student's code raised: ``kind`` is its class name, ``mro`` the names of its bases."""

    def __init__(self, record):
        super().__init__(record["message"])
        self.kind, self.mro, self.message = record["type"], record["mro"], record["message"]

    def is_a(self, name):
        return name in self.mro

    def __str__(self):
        return f"{self.kind}: {self.message}" if self.message else self.kind


class SandboxFailure(Exception):
    """The sandbox itself failed (a deadline, a crash, a limit); ``str()`` is a sentence."""

    def __init__(self, message, status="error"):
        super().__init__(message)
        self.status = status


class GraderFault(Exception):
    """The grader could not do its part (start a sandbox): never the student's fault."""


class Unreadable(ValueError):
    """An answer the grader will not take; ``str()`` says what was wrong with it."""


def _refuse_long_numbers(text):
    digits = len(text.lstrip("-"))
    if digits > 1000:
        raise Unreadable(f"a number of {digits:,} digits")
    return int(text)


def read_answer(line):
    """The answer in one line from the sandbox: {"ok": value} or {"error": record}.

    Whatever is wrong with it raises Unreadable, with what was wrong in words.
    """
    try:
        answer = json.loads(line.decode("utf-8"), parse_int=_refuse_long_numbers)
    except UnicodeDecodeError:
        raise Unreadable("it is not UTF-8 text") from None
    except RecursionError:
        raise Unreadable("it is nested too deeply") from None
    except ValueError as problem:  # Unreadable, or not JSON
        raise Unreadable(str(problem) if isinstance(problem, Unreadable)
                         else f"it is not JSON ({line[:40]!r})") from None
    if not isinstance(answer, dict) or len(answer) != 1 or not ({"ok", "error"} & set(answer)):
        raise Unreadable(f"it is not an answer of the runner ({line[:40]!r})")
    if "error" in answer:
        record = answer["error"]
        if not (isinstance(record, dict) and isinstance(record.get("type"), str)
                and isinstance(record.get("message"), str) and isinstance(record.get("mro"), list)
                and all(isinstance(name, str) for name in record["mro"])):
            raise Unreadable("it reports an error in a form the runner never writes")
    return answer


class Remote:
    """An object that lives in the sandbox: call its methods, read its attributes with ``get``."""

    def __init__(self, sandbox, number, kind):
        self._sandbox, self._number, self.kind = sandbox, number, kind

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)

        def method(*args, _keep=False, **kwargs):
            return self._sandbox.request("method", obj=self._number, name=name, args=list(args),
                                         kwargs=kwargs, keep=_keep)
        return method

    def get(self, name):
        """The value of the attribute ``name``."""
        return self._sandbox.request("get", obj=self._number, name=name)

    def set(self, name, value):
        """Set the attribute ``name``."""
        self._sandbox.request("set", obj=self._number, name=name, value=value)

    def plan(self, name, *args):
        """One call, for ``Sandbox.threads``."""
        return {"obj": self._number, "name": name, "args": self._sandbox._encode(list(args))}

    def __repr__(self):
        return f"<{self.kind} in the sandbox>"


class Sandbox:
    """One process running the student's code; ``close()`` ends it and everything it started."""

    def __init__(self, copy, deadline=REQUEST_SECONDS, jail=None):
        self.copy, self.deadline = Path(copy), deadline
        self.jail = jail or isolation.Jail(None)
        try:
            self.process = self.jail.start(RUNNER, self.copy)
        except (OSError, RuntimeError, subprocess.SubprocessError) as problem:
            raise GraderFault(f"cannot start a sandbox: {problem}") from None
        self.printed, self._printed_size = bytearray(), 0
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        self._answers = selectors.DefaultSelector()
        self._answers.register(self.process.stdout, selectors.EVENT_READ)
        self._pending = b""

    # -- asking -------------------------------------------------------------------------
    def new(self, target, *args, _keep=False, **kwargs):
        return self.request("new", target=target, args=list(args), kwargs=kwargs, keep=_keep)

    def call(self, target, *args, _keep=False, **kwargs):
        return self.request("call", target=target, args=list(args), kwargs=kwargs, keep=_keep)

    def raised(self, target, *args, **kwargs):
        """The exception that calling ``target`` raises, kept in the sandbox; None if none."""
        return self.request("raised", target=target, args=list(args), kwargs=kwargs)

    def threads(self, plans, rounds=1, switch=None):
        """Run each list of ``Remote.plan`` calls in a thread of its own, together; the errors."""
        return self.request("threads", calls=plans, rounds=rounds,
                            **({"switch": switch} if switch else {}))

    def events(self):
        """(an argument that collects what the code reports, a function that returns it so far)."""
        collected = self.request("list")
        return {"$events": collected._number}, lambda: self.request("events", obj=collected._number)

    def connect_pair(self):
        """(a socket in the sandbox, the grader's end of its connection), on 127.0.0.1."""
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(self.deadline)
            theirs = self.request("connect", port=listener.getsockname()[1])
            ours, _ = listener.accept()
        ours.settimeout(2.0)
        return theirs, ours

    def request(self, op, **fields):
        if self.process.poll() is not None:
            raise self._death()
        message = json.dumps({"op": op, **{k: self._encode(v) for k, v in fields.items()}})
        try:
            self.process.stdin.write(message.encode("utf-8") + b"\n")
            self.process.stdin.flush()
        except OSError:
            raise self._death() from None
        try:
            answer = read_answer(self._answer_line())
            if "error" in answer:
                raise RemoteError(answer["error"])
            try:
                return self._decode(answer["ok"])
            except Unreadable:
                raise
            except (TypeError, ValueError) as problem:  # a bad $bytes, $handle, ...
                raise Unreadable(f"it holds a value the runner never writes ({problem})") from None
        except (Unreadable, RecursionError) as problem:
            self.close()  # what follows on the channel cannot be trusted either
            reason = str(problem) if isinstance(problem, Unreadable) else "it is nested too deeply"
            raise SandboxFailure(f"the answer could not be read: {reason}", status="failed") from None

    # -- plain data both ways ---------------------------------------------------------
    def _encode(self, value):
        if isinstance(value, (bytes, bytearray)):
            return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
        if isinstance(value, tuple):
            return {"$tuple": [self._encode(item) for item in value]}
        if isinstance(value, list):
            return [self._encode(item) for item in value]
        if isinstance(value, dict):
            return {key: self._encode(item) for key, item in value.items()}
        if isinstance(value, Remote):
            return {"$handle": value._number}
        return value

    def _decode(self, value):
        if isinstance(value, list):
            return [self._decode(item) for item in value]
        if isinstance(value, dict):
            if set(value) == {"$bytes"}:
                return base64.b64decode(value["$bytes"])
            if set(value) == {"$tuple"}:
                return tuple(self._decode(item) for item in value["$tuple"])
            if set(value) == {"$handle", "$type"}:
                return Remote(self, int(value["$handle"]), str(value["$type"]))
            return {str(key): self._decode(item) for key, item in value.items()}
        if value is None or type(value) in (bool, int, float, str):
            return value
        raise Unreadable(f"it holds something that is not data: {value!r:.80}")

    # -- the process ------------------------------------------------------------------
    def _answer_line(self):
        deadline = self.deadline if HUNG[0] < HANG_BUDGET else min(self.deadline, AFTER_BUDGET)
        end = time.monotonic() + deadline
        while b"\n" not in self._pending:
            left = end - time.monotonic()
            if left <= 0 or not self._answers.select(left):
                HUNG[0] += deadline
                self.close()
                raise SandboxFailure(
                    f"did not finish within {deadline:g} s: an endless loop, a deadlock, "
                    "or a recv that nothing answers?", status="timeout")
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                raise self._death()
            self._pending += chunk
            if len(self._pending) > OUTPUT_LIMIT:
                self.close()
                raise SandboxFailure("returned more than 10 MiB of data at once")
        line, self._pending = self._pending.split(b"\n", 1)
        return line

    def _read_output(self):
        for chunk in iter(lambda: self.process.stderr.read(65536), b""):
            self._printed_size += len(chunk)
            if len(self.printed) < OUTPUT_KEPT:
                self.printed += chunk[:OUTPUT_KEPT - len(self.printed)]
            if self._printed_size > OUTPUT_LIMIT:
                self.jail.kill(self.process)
                return

    def _death(self):
        code = self.process.wait(5)
        self._reader.join(5)
        self.close()
        if self._printed_size > OUTPUT_LIMIT:
            return SandboxFailure(f"printed more than {OUTPUT_LIMIT >> 20} MiB", status="limit")
        return SandboxFailure(isolation.explain_exit(code),
                              status="limit" if isolation.is_limit(code) else "error")

    def close(self):
        """End the sandbox and every process it started."""
        self.jail.kill(self.process)
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self._answers.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
