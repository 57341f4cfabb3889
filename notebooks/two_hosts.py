"""Two hosts and the wire between them, for the appendix on network conditions (lesson 10).

Host A (10.78.0.1) and host B (10.78.0.2) are two Linux network namespaces: each
has its own interfaces, addresses, ports and TCP counters, as two machines do.
Each has one network interface, a TUN device: whatever that host sends through it
comes out here, in this program, as an IP packet read from a file descriptor, and
whatever this program writes to it arrives at the host as a packet from outside.

So the wire between the two hosts is a program, the ``Wire`` below. It carries
each packet to the other host after a delay, throws away a fraction of them at
random, and sends them no faster than a given rate, keeping a bounded queue in
front of that narrow link as a router does (and dropping what does not fit).
Where the kernel has ``netem``, one tc command does the same to an interface:
``tc qdisc add dev IFACE root netem delay 50ms loss 5% rate 64kbit limit 20``.

    with TwoHosts() as lab:                     # needs Linux, root, ip and /dev/net/tun
        lab.wire.set(delay=0.05, loss=0.05)     # 50 ms each way, 5% of packets lost
        lab.run("b", "ip", "route")             # a command on host B
        server = lab.chat_server()              # python -m chatroom.server, on host A
        print(chat_latencies(lab))              # ms from typing a line to reading it

Everything is removed when the ``with`` block ends, even after an error: the
namespaces with their ports and sockets, and the TUN devices, which vanish when
the wire closes them.
"""

import atexit
import ctypes
import heapq
import itertools
import json
import os
import queue
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

KIT = Path(__file__).resolve().parents[1]
HOST_A, HOST_B = "10.78.0.1", "10.78.0.2"  # each namespace's own: two labs at once do not clash
PORT = 5050
TUNSETIFF = 0x400454CA  # the ioctl that attaches an open /dev/net/tun to a new interface
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000  # IP packets, without a 4-byte header before each
PACKET_BYTES = 65535
PR_SET_PDEATHSIG = 1  # prctl: the signal a process gets when its parent ends
_labs = itertools.count(1)


def why_not_here():
    """Why two hosts cannot be built on this machine, in one line; None if they can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces and TUN devices are Linux's"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    if not os.path.exists("/dev/net/tun"):
        return "this kernel has no TUN devices (/dev/net/tun)"
    return None


def why_stored():
    """Why the appendix shows the stored figures: why_not_here(), or the variable
    CHATROOM_STORED_CAPTURES set (as for notebooks/packets.py); None to run live."""
    if os.environ.get("CHATROOM_STORED_CAPTURES"):
        return "CHATROOM_STORED_CAPTURES is set"
    return why_not_here()


def ip(*arguments):
    """Run ``ip ARGUMENTS``; raise OSError with its message if it fails."""
    done = subprocess.run(["ip", *arguments], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise OSError(f"ip {' '.join(arguments)}: {done.stderr.strip()}")
    return done.stdout


def open_tun(name):
    """A new TUN interface called ``name``, and the file descriptor that is its far end."""
    import fcntl  # Unix only: imported here, so that Windows still shows the stored figures
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


class Direction:
    """One way along the wire: packets wait for the narrow link, then cross it in ``delay``."""

    def __init__(self, to_fd):
        self.to_fd = to_fd
        self.free_at = 0.0  # when the link has sent every packet queued so far
        self.carried = self.lost = self.overflowed = 0


class Wire:
    """The cable between two TUN devices, as a thread of this program.

    delay: seconds each packet takes to cross, one way. loss: the fraction of
    packets thrown away, at random (from a generator with a fixed seed). rate: the
    narrow link, in bytes a second (None: as fast as this program goes); packets
    queue for it, and a packet that would make the queue longer than
    ``queue_bytes`` is dropped, as a router's full queue drops it.
    """

    def __init__(self, fd_a, fd_b, seed=1):
        self.fds = (fd_a, fd_b)
        self.ways = {fd_a: Direction(fd_b), fd_b: Direction(fd_a)}
        self.random = random.Random(seed)
        self.set()
        self.in_flight = []  # a heap of (arrival time, number, fd to write to, packet)
        self.numbers = itertools.count()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.carry, name="wire", daemon=True)
        self.thread.start()

    def set(self, delay=0.0, loss=0.0, rate=None, queue_bytes=16_000):
        """Change the conditions, both ways; packets already on their way keep theirs."""
        self.delay, self.loss, self.rate, self.queue_bytes = delay, loss, rate, queue_bytes

    def counts(self):
        """Packets carried, lost at random, and dropped by the full queue, both ways."""
        ways = self.ways.values()
        return {"carried": sum(way.carried for way in ways),
                "lost": sum(way.lost for way in ways),
                "overflowed": sum(way.overflowed for way in ways)}

    def carry(self):
        """Read packets from both ends and write each to the other end when it is due."""
        while not self.stopping.is_set():
            wait = 0.1  # at most: then look at self.stopping again
            if self.in_flight:
                wait = min(wait, max(0.0, self.in_flight[0][0] - time.monotonic()))
            try:
                ready, _, _ = select.select(self.fds, [], [], wait)
            except (OSError, ValueError):  # closed under us: the lab is being removed
                return
            for fd in ready:
                self.take(fd)
            self.deliver()

    def take(self, fd):
        """Read every packet waiting at ``fd`` and decide its fate."""
        way = self.ways[fd]
        for _ in range(1000):  # bounded: come back to deliver what is due
            try:
                packet = os.read(fd, PACKET_BYTES)
            except OSError:  # nothing more to read (BlockingIOError), or closed
                return
            now = time.monotonic()
            if self.random.random() < self.loss:
                way.lost += 1
                continue
            leaves = now
            if self.rate:  # the narrow link sends one packet after another
                waiting = max(0.0, way.free_at - now) * self.rate  # bytes queued before it
                if waiting + len(packet) > self.queue_bytes:
                    way.overflowed += 1
                    continue
                way.free_at = leaves = max(now, way.free_at) + len(packet) / self.rate
            heapq.heappush(self.in_flight,
                           (leaves + self.delay, next(self.numbers), way.to_fd, packet))
            way.carried += 1

    def deliver(self):
        """Write every packet whose time has come to the host it goes to."""
        now = time.monotonic()
        while self.in_flight and self.in_flight[0][0] <= now:
            _, _, fd, packet = heapq.heappop(self.in_flight)
            try:
                os.write(fd, packet)
            except OSError:
                pass  # the interface is down: the packet is lost, as on a real cable

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)


class TwoHosts:
    """Host A and host B (network namespaces), joined by a ``Wire``; a context manager."""

    def __init__(self):
        tag = f"{os.getpid()}-{next(_labs)}"
        self.names = {"a": f"twohosts-a-{tag}", "b": f"twohosts-b-{tag}"}
        self.devices = {"a": f"th{tag.replace('-', 'x')}a"[:15],
                        "b": f"th{tag.replace('-', 'x')}b"[:15]}
        self.fds = {}
        self.wire = None
        self.started = []  # every process started on a host, stopped by remove()

    def build(self):
        """Make both hosts and the wire; remove whatever was made if a step fails."""
        remove_abandoned()
        atexit.register(self.remove)  # also when the program ends without calling remove
        try:
            for host, me, other in (("a", HOST_A, HOST_B), ("b", HOST_B, HOST_A)):
                name, device = self.names[host], self.devices[host]
                ip("netns", "add", name)
                self.fds[host] = open_tun(device)  # made here; this fd stays its far end
                ip("link", "set", device, "netns", name)
                ip("-n", name, "addr", "add", me, "peer", other, "dev", device)
                ip("-n", name, "link", "set", device, "up")
                ip("-n", name, "link", "set", "lo", "up")
            self.wire = Wire(self.fds["a"], self.fds["b"])
        except BaseException:
            self.remove()
            raise
        return self

    def remove(self):
        """Stop every process started here, the wire, the TUN devices and the namespaces.
        Safe to call twice."""
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=5)
        self.started = []
        if self.wire is not None:
            self.wire.stop()
        for fd in self.fds.values():
            os.close(fd)  # the TUN device goes with its last descriptor
        self.fds = {}
        for name in self.names.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)

    def __enter__(self):
        return self.build()

    def __exit__(self, *exception):
        self.remove()

    def command(self, host, *arguments):
        """The command line that runs ``arguments`` on ``host`` ("a" or "b")."""
        return ["ip", "netns", "exec", self.names[host], *arguments]

    def run(self, host, *arguments, timeout=30):
        """Run a command on ``host`` to its end; the CompletedProcess, output as text."""
        return subprocess.run(self.command(host, *arguments), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def python(self, host, *arguments):
        """Start ``python ARGUMENTS`` on ``host`` with this kit's package: a Program."""
        program = Program(self.command(host, sys.executable, *arguments))
        self.started.append(program.process)
        return program

    def chat_server(self):
        """Your chat server (``python -m chatroom.server``) on host A, port 5050, once it
        listens. Without flood control: the hosts' clients all share one address."""
        server = self.python("a", "-m", "chatroom.server", "0.0.0.0", str(PORT), "--no-chat-log",
                             "--no-flood-control", "--max-per-address", "100")
        server.wait_for("Chat server listening")
        return server

    def chat_clients(self, host, count=1):
        """``count`` of your chat clients (``python -m chatroom.client``) on ``host``,
        started together; returned once each is welcomed."""
        clients = [self.python(host, "-m", "chatroom.client", HOST_A, str(PORT))
                   for _ in range(count)]
        for client in clients:
            client.wait_for("* Welcome")
        return clients

    def retransmissions(self):
        """TCP segments sent again so far, by each host: its kernel's TcpRetransSegs."""
        counts = {}
        for host in ("a", "b"):
            lines = self.run(host, "cat", "/proc/net/snmp").stdout.splitlines()
            names, values = [line.split() for line in lines if line.startswith("Tcp:")][:2]
            counts[host] = int(values[names.index("RetransSegs")])
        return counts

    def send_queues(self, host, peer):
        """Bytes that ``host``'s kernel holds, not yet acknowledged, for each connection to
        ``peer`` (the Send-Q column of ``ss``), largest first."""
        rows = self.run(host, "ss", "-tnH", "state", "established").stdout.splitlines()
        return sorted((int(row.split()[1]) for row in rows  # Recv-Q Send-Q Local Peer
                       if row.split()[3].startswith(f"{peer}:")), reverse=True)


def remove_abandoned():
    """Remove the namespaces of labs whose program was killed before it could."""
    for line in ip("netns", "list").splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if len(parts) == 4 and parts[0] == "twohosts" and parts[2].isdigit():
            try:
                os.kill(int(parts[2]), 0)
            except ProcessLookupError:  # that program is gone
                subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
            except PermissionError:
                pass


def _end_with_parent():
    """In a new child process: Linux sends it SIGTERM when its parent ends, so that a
    server on a host never outlives a notebook's kernel that was killed."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (AttributeError, OSError):
        pass


class Program:
    """A process whose output lines a thread of its own reads, each with its arrival time."""

    def __init__(self, command):
        self.process = subprocess.Popen(
            command, cwd=KIT, env=dict(os.environ, PYTHONPATH=str(KIT)), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8", errors="replace",
            preexec_fn=_end_with_parent)
        self.lines = queue.Queue()  # (time.monotonic() on arrival, line); None at the end
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        with self.process.stdout:
            for line in self.process.stdout:
                self.lines.put((time.monotonic(), line.rstrip("\n")))
        self.lines.put(None)

    def wait_for(self, text, timeout=10.0):
        """Read lines until one holds ``text``; raise RuntimeError, with the last line
        read, if the program ends or ``timeout`` passes first."""
        deadline, last = time.monotonic() + timeout, "nothing"
        while True:
            try:
                got = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                got = None
            if got is None:
                raise RuntimeError(f"waited for {text!r}; the program said {last!r}")
            last = got[1]
            if text in last:
                return got

    def type(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stop(self, timeout=10.0):
        """End of input (Ctrl-D: a client leaves), Ctrl-C (a server stops); then wait for
        the process to end, and kill it if it has not by ``timeout``."""
        try:
            self.process.stdin.close()
            self.process.send_signal(signal.SIGINT)
        except OSError:
            pass
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def everyone_in(client, people, tries=50):
    """Wait until ``client``'s /who counts ``people`` in the room. (A welcome comes just
    before its newcomer joins, and the join notices of one address are rate-limited.)"""
    for _ in range(tries):
        client.type("/who")
        if int(client.wait_for(" here")[1].split()[1]) >= people:
            return
    raise RuntimeError(f"fewer than {people} people got into the room")


def type_on_schedule(senders, lines, rate, size):
    """The ``senders`` type ``lines`` chat lines of ``size`` bytes in turn, line n due
    n / rate seconds after the start, whatever happened to the others: an open loop
    (lesson 8). Returns when each line was due (time.monotonic())."""
    start = time.monotonic() + 0.05
    due = [start + n / rate for n in range(lines)]
    for n, when in enumerate(due):
        time.sleep(max(0.0, when - time.monotonic()))  # the typists' pace, not an ordering
        senders[n % len(senders)].type(f"line {n:04d} " + "x" * max(0, size - 10))
    return due


def latencies(reader, due, timeout=30.0):
    """Each line's latency in ms, from when it was due to when ``reader`` showed it; None
    for a line that did not come within ``timeout``."""
    got, deadline = [None] * len(due), time.monotonic() + timeout
    for _ in range(len(due) * 10):  # bounded: its other lines are few
        if None not in got:
            break
        try:
            arrival = reader.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if arrival is None:
            break  # the reader has ended
        when, line = arrival
        if "> line " in line:
            n = int(line.split("> line ", 1)[1][:4])
            got[n] = round((when - due[n]) * 1000, 2)
    return got


def chat_latencies(lab, lines=60, rate=20, senders=4, size=40):
    """One run on the wire's present conditions. On host B, a reader, and ``senders``
    people who type ``lines`` lines in turn, ``rate`` a second in all, to your server on
    host A, which sends each back across the wire to the reader. Returns the latencies
    (ms), how many lines never came, and the wire's and the kernels' counts of lost and
    resent packets during the run."""
    reader, *typists = lab.chat_clients("b", 1 + senders)
    try:
        everyone_in(typists[-1], senders + 1)  # no line can miss a reader not in yet
        wire, kernels = lab.wire.counts(), sum(lab.retransmissions().values())
        latency = latencies(reader, type_on_schedule(typists, lines, rate, size))
        wire = {key: value - wire[key] for key, value in lab.wire.counts().items()}
        kernels = sum(lab.retransmissions().values()) - kernels
    finally:
        for client in typists + [reader]:
            client.stop()
    return {"latency": [ms for ms in latency if ms is not None],
            "never came": latency.count(None), "lost on the wire": wire["lost"],
            "dropped by the full queue": wire["overflowed"], "retransmissions": kernels}


def slow_reader(lab, lines=150, rate=50, size=300):
    """A sender and a reader on host A, beside the server, and a reader on host B, across
    the wire: the sender types faster than a narrow wire can carry. Returns both readers'
    latencies (ms) by line, and the bytes the server's kernel still held for host B's
    reader when the last line had been typed."""
    (near, sender), (far,) = lab.chat_clients("a", 2), lab.chat_clients("b")
    try:
        everyone_in(sender, 3)
        due = type_on_schedule([sender], lines, rate, size)
        held = lab.send_queues("a", HOST_B)
        near_latency, far_latency = latencies(near, due), latencies(far, due)
    finally:
        sender.stop()
        near.stop()
        far.stop()
    return {"near": near_latency, "far": far_latency,
            "held for B": held[0] if held else 0}


CONDITIONS = {  # what the appendix measures, and what record() stores, in this order
    "clean": {"wire": {}, "load": {"lines": 60, "rate": 20}},
    "delay": {"wire": {"delay": 0.050}, "load": {"lines": 60, "rate": 20}},
    "one typist": {"wire": {"delay": 0.050}, "load": {"lines": 60, "rate": 20, "senders": 1}},
    "loss": {"wire": {"loss": 0.05}, "load": {"lines": 150, "rate": 50}},
    "narrow": {"wire": {"rate": 8000, "queue_bytes": 64_000},  # 64 kbit/s, 8 s of queue
               "load": {"lines": 150, "rate": 50, "size": 300}},
}
"""The wire's settings and the load for each condition; "narrow" is the slow reader's."""


def measure(lab, condition):
    """Set the wire to ``condition`` (a key of CONDITIONS) and measure your chat room on it."""
    settings = CONDITIONS[condition]
    lab.wire.set(**settings["wire"])
    run = slow_reader if condition == "narrow" else chat_latencies
    return run(lab, **settings["load"])


def record(path):
    """Measure every condition, with your server on host A, and store the figures in the
    JSON file ``path``: what the appendix shows where it cannot run live."""
    figures = {}
    with TwoHosts() as lab:
        server = lab.chat_server()
        for condition in CONDITIONS:
            figures[condition] = measure(lab, condition)
        server.stop()
    with open(path, "w", encoding="utf-8") as stored:
        json.dump(figures, stored, indent=1)
        stored.write("\n")


if __name__ == "__main__":
    # python notebooks/two_hosts.py notebooks/captures/network_conditions.json (as root)
    record(sys.argv[1])
