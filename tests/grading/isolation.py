"""The walls around a student's code: limits everywhere, and more on Linux as root.

Everywhere (Linux, macOS; Windows has none of these):
    memory 512 MiB, CPU time 60 s, files written 10 MiB, no core files, and a
    session of its own, whose processes are all killed at the end.
On Linux as root (this kind of machine, and Gradescope's containers), also:
    - an unprivileged user of its own (uid 61000 + the job's slot), so it cannot
      touch the grader's files, the grader's processes or another student's;
    - at most 256 processes and threads for that user;
    - its private copy in a folder of its own under /var/lib/chatroom-grader;
    - the runner it starts from in a folder that root owns and it may only read;
    - after the job, every process of that user is killed, however it detached:
      a process of that user sends SIGKILL to all of them at once (kill -1),
      which no fork can race, until two looks at /proc in a row find none.
And where root may make namespaces (not in a container without CAP_SYS_ADMIN):
    - the grader's network namespace, which has loopback only (grade.py starts
      each grading job in a new one);
    - a mount namespace in which the instructor's kit (solutions, hidden tests,
      the grader), the class folder and the output folder are empty, and /tmp,
      /var/tmp and /dev/shm are new and its own, gone when it ends;
    - its own process ids and /proc, so it sees no other process, and all of
      its processes die with its first one; its own System V IPC objects and
      host name, gone when it ends;
    - its private copy in a tmpfs with room for the copy and ROOM_BYTES more
      (bound_room, by the judge), so that writing without end fills its own room,
      never the disk that classmates' copies and the reports need.

Root only raises these walls and kills: it never opens, copies or imports a
path that the student's code can write or replace (read_inside, install_runner).
``walls()`` says which walls this machine allows.
"""

import os
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

MEMORY_BYTES = 512 << 20
CPU_SECONDS = 60
FILE_BYTES = 10 << 20
PROCESSES = 256
ROOM_BYTES = 64 << 20  # what a sandbox may write in its folder, beyond its copy
BASE_UID = 61000
SCRATCH = "/var/lib/chatroom-grader"  # private copies, where only root and their user may look
OWN_TEMPORARY = ("/tmp", "/var/tmp", "/dev/shm")
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"


NAMESPACES = ["--mount", "--propagation", "private", "--ipc", "--uts", "--pid", "--fork",
              "--mount-proc", "--kill-child"]


def available():
    """True where a user of its own can be given: Linux, root, setpriv (and unshare)."""
    return (sys.platform.startswith("linux") and hasattr(os, "geteuid") and os.geteuid() == 0
            and shutil.which("unshare") is not None and shutil.which("setpriv") is not None)


_namespaces = None


def namespaces_allowed():
    """True where root may make the sandbox's namespaces (not in a container without
    CAP_SYS_ADMIN); tried once, for real."""
    global _namespaces
    if _namespaces is None:
        _namespaces = available() and _tried(["unshare", "--net", *NAMESPACES, "--", "true"])
    return _namespaces


def _tried(command):
    try:
        return subprocess.run(command, capture_output=True, timeout=30, cwd="/").returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def walls():
    """The walls this machine allows, in words, for the reports: "full", "user", or "limits"."""
    if namespaces_allowed():
        return "full"
    return "user" if available() else "limits"


def describe(level):
    """One line for the reports: which walls were up for the students' code."""
    return {
        "full": "walls: full (a user of its own, namespaces for network, files, processes "
                "and IPC, limits)",
        "user": "walls: a user of its own and limits; no namespaces (this machine refuses "
                "them, as a container without CAP_SYS_ADMIN does): the sandbox shares the "
                "network, and sees the other files that every user may read",
        "limits": "walls: limits only (not root, or not Linux): deadlines, plain data, a "
                  "private copy and resource limits; a determined student could read or "
                  "harm what your own user may",
    }[level]


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

    def __init__(self, slot=None, hidden=(), runner_home=None):
        self.uid = BASE_UID + slot if slot is not None and available() else None
        self.hidden = [str(path) for path in hidden]
        self.runner_home = runner_home  # root's folder that holds the runner (install_runner)

    def start(self, runner, copy):
        command = [self.python(), "-I", str(self.own_runner(runner)), str(copy)]
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

    def own_runner(self, runner):
        """The runner the sandbox starts from: out of the instructor's kit, which it cannot
        see, into a folder of root's that it may read and never write (install_runner)."""
        if self.uid is None:
            return runner
        if self.runner_home is None:
            self.runner_home = install_runner(runner)
        return Path(self.runner_home) / Path(runner).name

    def walled(self, command):
        user = (f"setpriv --reuid={self.uid} --regid={self.uid} --clear-groups --no-new-privs "
                "--inh-caps=-all --bounding-set=-all --")
        if not namespaces_allowed():
            return [*shlex.split(user), *command]
        mounts = "".join(f"mount -t tmpfs -o size=64k,mode=0555 none {shlex.quote(path)} && "
                         for path in self.hidden if os.path.isdir(path))
        mounts += "".join(f"mount -t tmpfs -o size=64m,mode=1777 none {path} && "
                          for path in OWN_TEMPORARY if os.path.isdir(path))
        script = f"{mounts}exec {user} {' '.join(shlex.quote(part) for part in command)}"
        return ["unshare", *NAMESPACES, "--", "sh", "-c", script]

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
        return _tried(["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                       python, "-I", "-c", "import json, socket, selectors"])

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

    LOCKS = SCRATCH + "/slot-{}.lock"  # in root's folder: no sandbox can plant a link there
    MOST = 1000

    def __init__(self, wanted):
        import fcntl
        scratch_folder()
        self._files, self.numbers = [], []
        for number in range(self.MOST):
            if len(self.numbers) == wanted:
                break
            lock = open(os.open(self.LOCKS.format(number),
                                os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600), "a")
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


def leftovers(slots=100):
    """The sandbox users whose slot no grader holds that still have a process: what
    outlived a grading.

    The free slots are claimed while their users are asked about, so a grader that starts
    meanwhile takes other slots, and its processes are not mistaken for leftovers.
    """
    free = Slots(slots)  # every slot no grader holds now, up to ``slots`` of them
    try:
        return users_with_processes(BASE_UID + number for number in free.numbers if number < slots)
    finally:
        free.release()


# Run by root: for each user, a probe that becomes that user and may have one process
# beside itself. The kernel counts each user's processes (zombies too), so the probe can
# fork only if it is alone. It says "busy" for a user with any other process.
_PROBE = """\
import os, resource, sys
for uid in map(int, sys.argv[1:]):
    probe = os.fork()
    if probe == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            resource.setrlimit(resource.RLIMIT_NPROC, (2, 2))
            try:
                child = os.fork()
            except BlockingIOError:
                os._exit(1)
            if child == 0:
                os._exit(0)
            os.waitpid(child, 0)
            os._exit(0)
        finally:
            os._exit(2)
    _, status = os.waitpid(probe, 0)
    print(uid, "alone" if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else "busy")
"""


def users_with_processes(uids):
    """Those of ``uids`` that have a process, by the kernel's own count (see _PROBE). A look
    at /proc cannot say so: a chain of processes that hops pids is missed by almost every
    look. A user the probe could not ask about counts as one with processes."""
    uids = list(uids)
    if not uids:
        return []
    try:
        told = subprocess.run([sys.executable, "-I", "-c", _PROBE, *map(str, uids)],
                              capture_output=True, text=True, timeout=30, cwd="/").stdout
    except (OSError, subprocess.TimeoutExpired):
        told = ""
    alone = {int(line.split()[0]) for line in told.splitlines() if line.endswith(" alone")}
    return [uid for uid in uids if uid not in alone]


def _processes(uid):
    """[(pid, state, parent pid)] of the processes whose real user is ``uid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as status:
                    fields = dict(line.split(":", 1) for line in status if ":" in line)
                if int(fields["Uid"].split()[0]) == uid:
                    found.append((int(entry), fields["State"].split()[0], int(fields["PPid"])))
            except (OSError, KeyError, IndexError, ValueError):
                continue  # it ended meanwhile
    return found


def processes_of(uid):
    """The ids of the live processes of ``uid``: a zombie runs no code, and is gone once
    its parent reaps it (reap_orphans)."""
    return [pid for pid, state, _ in _processes(uid) if state != "Z"]


def become_reaper():
    """Have the orphans of the processes we start come to us (Linux), so that reap_orphans
    can clear them: an orphan's zombie still counts against its user's process limit."""
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass


def reap_orphans(uid):
    """Clear the zombies of ``uid`` that are ours to reap (see become_reaper)."""
    for pid, state, parent in _processes(uid):
        if state == "Z" and parent == os.getpid():
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def kill_user(uid, rounds=50):
    """Kill every process of ``uid``, however it detached; True once none is left.

    Listing /proc and killing what it shows can miss a chain of processes that
    keeps taking new ids. So a process of ``uid`` itself calls kill(-1, SIGKILL):
    the kernel signals every process that user may signal in one pass, during
    which no fork can complete. That comes first, whatever /proc shows (a look
    misses a process that hops between the listing and the reading of its
    status), and again while a look finds one. Then two looks in a row must find
    none.
    """
    _kill_all_as(uid)
    empty = 0
    for _ in range(rounds):
        if processes_of(uid):
            empty = 0
            _kill_all_as(uid)
        else:
            empty += 1
            if empty == 2:
                reap_orphans(uid)
                return True
        time.sleep(0.01)
    return False


def sweep(uid):
    """Remove what ``uid`` may have left where others look: System V IPC objects, and files
    in /tmp, /var/tmp and /dev/shm. Namespaces make these the sandbox's own; without them
    (walls "user"), this keeps one student's leftovers from the next."""
    for kind, flag in (("shm", "-m"), ("sem", "-s"), ("msg", "-q")):
        try:
            with open(f"/proc/sysvipc/{kind}", encoding="ascii") as table:
                header, *rows = [line.split() for line in table.read().splitlines()]
        except OSError:
            continue
        for row in rows:
            fields = dict(zip(header, row))
            if uid in (int(fields.get("uid", -1)), int(fields.get("cuid", -1))):
                _tried(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
                        "ipcrm", flag, fields[header[1]]])  # root may not, without CAP_SYS_ADMIN
    for folder in OWN_TEMPORARY:
        for parent, dirs, files in os.walk(folder, topdown=False):  # never follows a link
            for name in dirs + files:
                path = os.path.join(parent, name)
                try:
                    if os.lstat(path).st_uid == uid:
                        (os.rmdir if name in dirs and not os.path.islink(path) else os.unlink)(path)
                except OSError:
                    pass  # gone already, or a folder that still holds another's files


def _kill_all_as(uid):
    killer = shutil.which("kill", path="/usr/bin:/bin")
    if killer is None or shutil.which("setpriv") is None:
        for pid in processes_of(uid):  # the slower way: one by one
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return
    _tried(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
            killer, "-KILL", "-1"])


class OutOfSight:
    """Where no mount namespace can hide them (walls "user"), the folders the sandbox must
    not see lose their permissions for other users meanwhile: the sandbox's user is one."""

    def __init__(self, folders):
        hide = walls() == "user"
        self.modes = {path: os.stat(path).st_mode for path in map(str, folders)
                      if hide and os.path.isdir(path)}

    def __enter__(self):
        for path, mode in self.modes.items():
            os.chmod(path, stat.S_IMODE(mode) & ~0o007)
        return self

    def __exit__(self, *exc_info):
        for path, mode in self.modes.items():
            os.chmod(path, stat.S_IMODE(mode))


def install_runner(runner):
    """A new folder of root's under SCRATCH holding a copy of ``runner``; its path.

    The sandbox may read and run the copy, never write or replace it: the folder
    and the file are root's, made afresh (O_EXCL, O_NOFOLLOW), and never chowned.
    """
    import tempfile
    home = Path(tempfile.mkdtemp(prefix="grade-runner-", dir=scratch_folder()))
    os.chmod(home, 0o755)
    fd = os.open(home / Path(runner).name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                 0o644)
    with open(fd, "wb") as target:
        target.write(Path(runner).read_bytes())
    return home


def read_inside(folder, relative, most=1 << 20):
    """The text of ``folder/relative``, read without following any link below ``folder``.

    The grader reads a student's files as root: a link planted in the copy must not
    make it read anything else. A link, a missing file or a folder gives "".
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    parts = Path(relative).parts
    try:
        fd = os.open(folder, flags | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return ""
    try:
        for part in parts[:-1]:
            inner = os.open(part, flags | getattr(os, "O_DIRECTORY", 0), dir_fd=fd)
            os.close(fd)
            fd = inner
        inner = os.open(parts[-1], flags | getattr(os, "O_NONBLOCK", 0), dir_fd=fd)
    except OSError:
        os.close(fd)
        return ""
    os.close(fd)
    with open(inner, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return ""
        return file.read(most).decode("utf-8", "replace")


def listed_inside(folder, relative):
    """The names in ``folder/relative``, without following any link (see read_inside)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:
        return []
    try:
        for part in Path(relative).parts:
            inner = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = inner
        return sorted(os.listdir(fd))
    except OSError:
        return []
    finally:
        os.close(fd)


def scratch_folder():
    """Where a private copy goes: under SCRATCH with the walls, else the usual temporary folder."""
    if not available():
        return None
    os.makedirs(SCRATCH, mode=0o711, exist_ok=True)
    os.chmod(SCRATCH, 0o711)  # its users may pass through to their own folder, and no more
    return SCRATCH


def bound_room(place, copy):
    """Where namespaces are allowed, make the empty folder ``place`` a tmpfs of its own that
    holds ``copy`` and ROOM_BYTES more: a sandbox that writes without end fills its own
    folder, never the disk that classmates' copies and the reports need. Raises OSError if
    the mount fails; returns True once mounted, False where it cannot be (no namespaces)."""
    if not namespaces_allowed():
        return False
    size = ROOM_BYTES + sum(os.lstat(os.path.join(folder, name)).st_size
                            for folder, _, files in os.walk(copy) for name in files)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700",
                           "chatroom-grader", str(place)], capture_output=True, text=True,
                          timeout=30, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    if done.returncode:
        raise OSError(f"cannot bound a sandbox's folder: {done.stderr.strip()}")
    return True


def unbound_room(place):
    """Undo bound_room: the tmpfs goes, with whatever the sandbox wrote in it."""
    subprocess.run(["umount", "--lazy", str(place)], capture_output=True, timeout=30,
                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


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
