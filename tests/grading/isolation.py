"""The walls around a student's code: limits everywhere, and more on Linux as root.

Everywhere (Linux, macOS; Windows has none of these):
    memory 512 MiB, CPU time 60 s, files written 10 MiB, no core files, and a
    session of its own, whose processes are all killed at the end.
On Linux as root (this kind of machine, and Gradescope's containers), also:
    - an unprivileged user of its own (uid 61000 + the job's slot), so it cannot
      touch the grader's files, the grader's processes or another student's;
    - at most 256 processes and threads for that user;
    - the grader's network namespace, which has loopback only (grade.py starts
      each grading job in a new one);
    - a mount namespace in which the instructor's kit (solutions, hidden tests,
      the grader), the class folder and the output folder are empty, and /tmp,
      /var/tmp and /dev/shm are new and its own, gone when it ends;
    - its private copy in a folder of its own under /var/lib/chatroom-grader;
    - after the job, every process of that user is killed, however it detached.
"""

import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

MEMORY_BYTES = 512 << 20
CPU_SECONDS = 60
FILE_BYTES = 10 << 20
PROCESSES = 256
BASE_UID = 61000
SCRATCH = "/var/lib/chatroom-grader"  # private copies, where only root and their user may look
OWN_TEMPORARY = ("/tmp", "/var/tmp", "/dev/shm")
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"


def available():
    """True where the full walls can be built: Linux, root, unshare and setpriv."""
    return (sys.platform.startswith("linux") and hasattr(os, "geteuid") and os.geteuid() == 0
            and shutil.which("unshare") is not None and shutil.which("setpriv") is not None)


def explain_exit(code):
    """A sentence for a sandbox that ended with ``code`` (a negative code is a signal)."""
    if code is not None and code < 0:
        number = -code
        if number == getattr(signal, "SIGXCPU", None):
            return f"used more than {CPU_SECONDS} s of CPU time, and was stopped"
        if number == getattr(signal, "SIGXFSZ", None):
            return f"wrote a file of more than {FILE_BYTES >> 20} MiB, and was stopped"
        if number == signal.SIGKILL:
            return "was killed: it printed too much, or used more memory than it may"
        return f"Python was stopped by signal {signal.Signals(number).name}"
    return (f"Python stopped here (exit code {code}): does the code call os._exit() "
            "or sys.exit(), or crash the interpreter?")


def is_limit(code):
    """True when ``code`` is the signal of a limit: CPU time, or a file's size."""
    return code is not None and code < 0 and -code in (getattr(signal, "SIGXCPU", None),
                                                       getattr(signal, "SIGXFSZ", None))


def _limits(separate_user):
    def apply():
        import resource
        os.setsid()
        limits = [(resource.RLIMIT_AS, MEMORY_BYTES), (resource.RLIMIT_CPU, CPU_SECONDS),
                  (resource.RLIMIT_FSIZE, FILE_BYTES), (resource.RLIMIT_CORE, 0)]
        if separate_user:  # counted per user: only meaningful for a user of its own
            limits.append((resource.RLIMIT_NPROC, PROCESSES))
        for limit, value in limits:
            try:
                resource.setrlimit(limit, (value, value))
            except (ValueError, OSError):
                pass  # macOS refuses some (RLIMIT_AS): the others still hold
    return apply


class Jail:
    """Starts and ends one sandbox. ``slot`` None: limits only; a number: the full walls."""

    _python = {}

    def __init__(self, slot=None, hidden=()):
        self.uid = BASE_UID + slot if slot is not None and available() else None
        self.hidden = [str(path) for path in hidden]

    def start(self, runner, copy):
        command = [self.python(), "-I", str(self.private_runner(runner, copy)), str(copy)]
        environment = {"PATH": SANDBOX_PATH, "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
                       "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(copy)}
        if self.uid is not None:
            command = self.walled(command)
        elif sys.platform == "win32":
            environment = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1")
        preexec = _limits(self.uid is not None) if os.name == "posix" else None
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=copy, env=environment,
                                preexec_fn=preexec, bufsize=0)

    def private_runner(self, runner, copy):
        """The runner, beside the copy: the instructor's kit is out of the sandbox's sight."""
        if self.uid is None:
            return runner
        target = copy.parent / "runner.py"
        shutil.copyfile(runner, target)
        os.chown(target, self.uid, self.uid)
        return target

    def walled(self, command):
        mounts = "".join(f"mount -t tmpfs -o size=64k,mode=0555 none {shlex.quote(path)} && "
                         for path in self.hidden if os.path.isdir(path))
        mounts += "".join(f"mount -t tmpfs -o size=64m,mode=1777 none {path} && "
                          for path in OWN_TEMPORARY if os.path.isdir(path))
        user = (f"setpriv --reuid={self.uid} --regid={self.uid} --clear-groups --no-new-privs "
                "--inh-caps=-all --bounding-set=-all --")
        script = f"{mounts}exec {user} {' '.join(shlex.quote(part) for part in command)}"
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]

    def python(self):
        """A Python that the sandbox's user may run: this one, or the system's."""
        if self.uid is None:
            return sys.executable
        if self.uid not in Jail._python:
            candidates = [os.path.realpath(sys.executable), "/usr/bin/python3", "/usr/local/bin/python3"]
            Jail._python[self.uid] = next(
                (path for path in candidates if os.path.exists(path) and self._runs(path)), None)
            if Jail._python[self.uid] is None:
                raise RuntimeError("no Python here that an unprivileged user may run "
                                   "(install python3 for all users)")
        return Jail._python[self.uid]

    def _runs(self, python):
        check = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                 python, "-I", "-c", "import json, socket, selectors"]
        return subprocess.run(check, capture_output=True, timeout=30, cwd="/").returncode == 0

    def kill(self, process):
        """End the sandbox and everything it started, and wait until they are gone."""
        if os.name == "posix":
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if process.poll() is None:
            process.kill()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            pass
        if self.uid is not None:
            kill_user(self.uid)


class Slots:
    """Slot numbers that no other grader on this machine uses meanwhile (a lock file each).

    A slot names the sandbox's user (uid 61000 + slot), and a grader kills every
    process of that user when a job ends: two graders must never share one.
    """

    LOCKS = "/tmp/chatroom-grader-slot-{}.lock"
    MOST = 1000

    def __init__(self, wanted):
        import fcntl
        self._files, self.numbers = [], []
        for number in range(self.MOST):
            if len(self.numbers) == wanted:
                break
            lock = open(self.LOCKS.format(number), "a")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
                continue
            self._files.append(lock)
            self.numbers.append(number)

    def release(self):
        for lock in self._files:
            lock.close()  # closing drops the lock
        self._files = []


def processes_of(uid):
    """The process ids whose real user is ``uid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as status:
                    for line in status:
                        if line.startswith("Uid:"):
                            if int(line.split()[1]) == uid:
                                found.append(int(entry))
                            break
            except OSError:
                continue  # it ended meanwhile
    return found


def kill_user(uid, rounds=100):
    """Kill every process of ``uid``, however it detached, until none is left."""
    for _ in range(rounds):
        alive = processes_of(uid)
        if not alive:
            return True
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    return not processes_of(uid)


def scratch_folder():
    """Where a private copy goes: under SCRATCH with the walls, else the usual temporary folder."""
    if not available():
        return None
    os.makedirs(SCRATCH, mode=0o711, exist_ok=True)
    os.chmod(SCRATCH, 0o711)  # its users may pass through to their own folder, and no more
    return SCRATCH


def private_copy(copy, scratch, uid):
    """A copy of the student's folder that only the sandbox's user can read and write."""
    target = scratch / "copy"
    shutil.copytree(copy, target, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", "__pycache__", ".venv", "*.pyc"))
    if uid is not None:
        os.chown(scratch, uid, uid)
        os.chmod(scratch, 0o700)
        for folder, dirs, files in os.walk(target):
            for name in [folder, *(os.path.join(folder, item) for item in dirs + files)]:
                os.lchown(name, uid, uid)
    return target


def loopback_up():
    """Bring up ``lo`` in a new network namespace (needs root); True once it is up."""
    import fcntl  # Linux only, as is this function
    sioc_get, sioc_set, up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14s", b"lo", 0, b"\0" * 14)
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, sioc_get, request))[1]
        if not flags & up:
            fcntl.ioctl(sock, sioc_set, struct.pack("16sH14s", b"lo", flags | up, b"\0" * 14))
    return True
