"""Benchmark: the threaded chat server against a minimal asyncio server.

    python tests/benchmark.py [--clients 10,100,1000] [--repeat 5] [--quick]

Each server runs in its own process (``python -m chatroom.server`` and
``python tests/asyncio_chat.py``), so the load generator's work and GIL
do not slow the server down. The load generator is this process: one
sender, N receivers read with ``selectors``, all on 127.0.0.1.

For every number of clients N and each server it prints:
- deliveries/s: lines received by all receivers per second, while the sender
  keeps WINDOW messages in flight (a message is in flight until all N have it);
- p50/p99 latency of those deliveries (receive time - send time, one clock);
- p99 latency at light load: one message in flight at a time;
- resident memory of the server per connected client (Linux /proc only);
then the same again with one extra client that never reads, followed (up to
100 clients) by an 8 MiB flood so its backlog outgrows the kernel's buffers:
does the server drop it (threaded: yes, over 256 KiB) or grow (asyncio)?
Each measurement is repeated; the table shows the median and the spread
(min-max). The machine is shared and noisy: compare the two servers within
one run, not against figures from another day.
Both servers log every message to their stdout (here a temporary file),
so the logging cost is in both sets of figures.
"""

import argparse
import os
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from chatroom.measure import percentile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVERS = {
    "threaded": [sys.executable, "-m", "chatroom.server", "127.0.0.1", "0",
                 "--max-clients", "2100"],
    "asyncio": [sys.executable, os.path.join("tests", "asyncio_chat.py"), "127.0.0.1", "0"],
}
SOCKET_TIMEOUT = 5.0
WINDOW = 16           # messages in flight during the throughput phase
LIGHT_MESSAGES = 30   # messages sent one at a time for the light-load latency
LINE_BYTES = 100      # payload size of one message
PHASE_SECONDS = 60.0  # give up on a phase after this long (reported as incomplete)
FLOOD_BYTES = 8 << 20  # sent to the stuck client: more than the kernel buffers hold
FLOOD_LINE_BYTES = 2000
FLOOD_MAX_CLIENTS = 100  # above this the flood would take too long; skipped


def raise_open_file_limit(wanted):
    """1,000 clients need more than the usual 1,024 file descriptors."""
    try:
        import resource
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def resident_kib(pid):
    """The process's resident memory in KiB, or None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class ServerProcess:
    """A chat server in a subprocess; its log goes to a temporary file."""

    def __init__(self, kind):
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(SERVERS[kind], cwd=REPO, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        self.port = self._read_port()

    def _read_port(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            self.log.seek(0)
            found = re.search(rb"listening on \S+ port (\d+)", self.log.read(4096))
            if found:
                return int(found.group(1))
            time.sleep(0.02)  # polling a file: nothing to wait on
        self.stop()
        raise RuntimeError("the server did not start")

    def logged(self, text):
        """True if the server's log so far contains ``text``."""
        self.log.seek(0)
        return text in self.log.read()

    def rss_kib(self):
        return resident_kib(self.process.pid)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.log.close()


class Load:
    """One sender and N receivers connected to a server, read with selectors."""

    def __init__(self, port, clients, slow_reader):
        self.selector = selectors.DefaultSelector()
        self.receivers = [self._connect(port) for _ in range(clients)]
        self.sender = self._connect(port)
        # Without this, Nagle's algorithm holds each small line until the last is acknowledged.
        self.sender.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.slow = None
        if slow_reader:  # connects, then never calls recv
            self.slow = socket.socket()
            self.slow.settimeout(SOCKET_TIMEOUT)
            self.slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self.slow.connect(("127.0.0.1", port))
        self.pending = {sock: b"" for sock in self.receivers}
        for sock in self.receivers + [self.sender]:
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ)
        self.sent_at = {}
        self.delivered = {}
        self.latencies = []
        self.last_delivery = 0.0
        self.next_seq = 0

    @staticmethod
    def _connect(port):
        sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
        return sock

    def send(self, size=LINE_BYTES):
        seq = self.next_seq
        self.next_seq += 1
        line = f"m {seq} ".encode() + b"x" * size + b"\n"
        self.sent_at[seq] = time.perf_counter()
        self.delivered[seq] = 0
        self.sender.setblocking(True)  # a short line: the kernel takes it at once
        self.sender.sendall(line)
        self.sender.setblocking(False)

    def read(self, timeout):
        """Read what has arrived; count and time each delivered message."""
        for key, _ in self.selector.select(timeout):
            sock = key.fileobj
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                continue
            if not data:
                raise RuntimeError("the server closed a connection")
            if sock is self.sender:
                continue  # join notices: not measured
            now = time.perf_counter()
            *lines, self.pending[sock] = (self.pending[sock] + data).split(b"\n")
            for line in lines:
                parts = line.split(b" ", 3)
                if len(parts) == 4 and parts[1] == b"m":
                    seq = int(parts[2])
                    self.latencies.append(now - self.sent_at[seq])
                    self.delivered[seq] += 1
                    self.last_delivery = now

    def run(self, messages, window, size=LINE_BYTES):
        """Send ``messages`` with at most ``window`` in flight; wait for every delivery."""
        self.latencies = []
        first = self.next_seq
        last = first + messages
        started = time.perf_counter()
        deadline = time.monotonic() + PHASE_SECONDS
        clients = len(self.receivers)
        oldest = first  # every message before this one has reached every receiver
        while oldest < last and time.monotonic() < deadline:
            while self.next_seq < last and self.next_seq - oldest < window:
                self.send(size)
            self.read(0.5)
            while oldest < self.next_seq and self.delivered[oldest] == clients:
                oldest += 1
        complete = oldest == last
        elapsed = self.last_delivery - started
        return complete, len(self.latencies) / elapsed if elapsed > 0 else 0.0

    def close(self):
        self.selector.close()
        for sock in self.receivers + [self.sender] + ([self.slow] if self.slow else []):
            sock.close()


def measure(kind, clients, slow_reader, repeat, messages):
    """Start a server, connect, and measure ``repeat`` times; return the figures."""
    server = ServerProcess(kind)
    load = None
    try:
        before = server.rss_kib()
        load = Load(server.port, clients, slow_reader)
        load.run(5, 1)  # warm-up: every client is welcome and has read the join notices
        after = server.rss_kib()
        figures = {"rate": [], "p50": [], "p99": [], "light": [], "complete": True}
        for _ in range(repeat):
            complete, _ = load.run(LIGHT_MESSAGES, 1)
            figures["light"].append(percentile(load.latencies, 99) * 1000)
            ok, rate = load.run(messages, WINDOW)
            figures["complete"] &= complete and ok
            figures["rate"].append(rate)
            figures["p50"].append(percentile(load.latencies, 50) * 1000)
            figures["p99"].append(percentile(load.latencies, 99) * 1000)
        figures["flooded"] = slow_reader and clients <= FLOOD_MAX_CLIENTS
        if figures["flooded"]:  # now make the stuck client's backlog outgrow the kernel's
            ok, _ = load.run(FLOOD_BYTES // FLOOD_LINE_BYTES, WINDOW, FLOOD_LINE_BYTES)
            figures["complete"] &= ok
        end = server.rss_kib()
        if before is not None:
            figures["kib_per_client"] = (after - before) / clients
            figures["growth_mib"] = (end - after) / 1024
        figures["dropped"] = server.logged(b"dropped: it stopped reading")
        return figures
    finally:
        if load is not None:
            load.close()
        server.stop()


def spread(values, digits):
    """'median (min-max)' of the repeats."""
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="10,100,1000",
                        help="comma-separated numbers of receiving clients")
    parser.add_argument("--repeat", type=int, default=5, help="measurements per configuration")
    parser.add_argument("--deliveries", type=int, default=20000,
                        help="deliveries per measurement (messages = this / clients)")
    parser.add_argument("--quick", action="store_true",
                        help="10 and 100 clients, one repeat, fewer deliveries")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.repeat, args.deliveries = "10,100", 1, 5000
    counts = [int(count) for count in args.clients.split(",")]
    raise_open_file_limit(max(counts) * 2 + 100)
    began = time.monotonic()
    print(f"Chat server benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"{args.repeat} repeat(s); median (min-max) of the repeats.")
    print(f"Throughput phase: {WINDOW} messages of {LINE_BYTES} bytes in flight; light load: "
          "one message at a time. Both servers log every message.")
    header = (f"{'clients':>8} {'server':<18} {'deliveries/s':>22} {'p50 ms':>18} "
              f"{'p99 ms':>18} {'p99 light ms':>18} {'KiB/client':>10} {'growth MiB':>10}")
    print(header)
    print("-" * len(header))
    results = {}
    for clients in counts:
        messages = max(20, args.deliveries // clients)
        for slow_reader in (False, True):
            for kind in ("threaded", "asyncio"):
                figures = measure(kind, clients, slow_reader, args.repeat, messages)
                results[clients, kind, slow_reader] = figures
                label = kind + (" +1 stuck" if slow_reader else "")
                note = "" if figures["complete"] else "  INCOMPLETE (timed out)"
                if figures["flooded"]:
                    note += ("  stuck client dropped" if figures["dropped"]
                             else "  stuck client kept")
                print(f"{clients:>8} {label:<18} {spread(figures['rate'], 0):>22} "
                      f"{spread(figures['p50'], 2):>18} {spread(figures['p99'], 2):>18} "
                      f"{spread(figures['light'], 2):>18} "
                      f"{figures.get('kib_per_client', float('nan')):>10.1f} "
                      f"{figures.get('growth_mib', float('nan')):>10.1f}{note}", flush=True)
    print()
    print("Reading:")
    for clients in counts:
        for slow_reader in (False, True):
            threaded = statistics.median(results[clients, "threaded", slow_reader]["rate"])
            asyncio_rate = statistics.median(results[clients, "asyncio", slow_reader]["rate"])
            print(f"  {clients} clients{' +1 stuck' if slow_reader else ''}: threaded/asyncio "
                  f"deliveries per second = {threaded / asyncio_rate:.2f}")
    print(f"  The stuck rows ({', '.join(str(c) for c in counts if c <= FLOOD_MAX_CLIENTS)} "
          f"clients) then send {FLOOD_BYTES >> 20} MiB more in {FLOOD_LINE_BYTES}-byte lines: "
          "'growth MiB' is how much the server grew while measuring and flooding. The threaded "
          "server drops a client with over 256 KiB waiting; the asyncio server, which never "
          "awaits drain(), keeps buffering for it.")
    print("  A ratio above 1 means the threaded server delivered more per second. Ratios from "
          "one run are what to compare; absolute figures move with the machine's load.")
    print(f"Total time: {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
