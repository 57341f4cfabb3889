"""Benchmark: four designs of the same chat room, on equal terms.

    python tests/benchmark.py            # 10, 100 and 1,000 clients, medians of 5: minutes
    python tests/benchmark.py --quick    # 10 and 100 clients, one repeat: about 30 s

The designs, each run as a server in its own process on 127.0.0.1, with
``--max-clients`` to spare (twice the clients: the last tenth is kept for new addresses):
- threaded:  one thread per client, the package (``python -m chatroom.server``);
- relay:     a thread per client for reading, and one relay thread that does
  every send, a batch per reader and pass: the reference answer of challenge 8
  (``python solutions/ch8_relay_server.py``; another file with --relay-server);
- selectors: one thread, ``selectors`` and non-blocking sockets, the reference
  answer of challenge 5 (``python solutions/ch5_selectors_server.py``; another
  file with --selectors-server);
- asyncio:   one event loop, streams, ``await drain()`` (``tests/asyncio_chat.py``).
A design whose file is missing is left out, saying so. All four behave the
same on the wire (welcome, ``* NAME joined`` and ``* NAME left`` in rooms of
up to 100, ``<NAME> text``, the commands), relay the chat lines of one read
in one write to each reader (relay: of one pass, which may hold many reads),
drop a reader with more than 256 KiB waiting, and log every chat line to their
stdout (here a temporary file), so the same work is in every figure.

The load is this process: N clients, bound to source addresses 127.0.0.1 to
127.0.0.200 in turn, all read with ``selectors``. S of them (1, then 5) also
send: each keeps WINDOW lines of LINE_BYTES in flight (a line is in flight until
all N - 1 others have it). For each N, S and design the table shows:
- deliveries/s: lines received by all clients per second of the run;
- p50 and p99 latency of the deliveries (arrival minus send time, one clock;
  every SAMPLE_EVERY-th line is timed at every client, the rest only counted);
- CPU us/dlv: the server's CPU time, user and system, per delivery (Linux /proc),
  which other work on the machine disturbs much less than the rates;
- KiB/client: the server's resident memory after N clients joined, minus
  before, divided by N.
Each repeat starts every design afresh, in turn (the first design rotates), so
a slow minute of the shared machine does not land on one design; the table
shows the median of the repeats and, in brackets, their range. Then come the
ratios of the medians: each threaded design (threaded, relay) / the best
single-threaded one (selectors, asyncio).

Then, once per design and N:
- a client that never reads: N clients, one more that never calls recv, and
  five senders of FLOOD_LINE_BYTES lines until the server logs that it dropped
  it, or FLOOD_BYTES have gone: whether it was dropped, how much was sent to
  it by then (most of it sits in the kernel's buffers), the others' deliveries/s
  meanwhile, and how much the server grew;
- the join storm (JOIN_STORM_CLIENTS, 100 with --quick): all clients connect at
  once; the time from the first connect to the last line that arrives before
  the room is quiet, once every client has its welcome and a /who from the
  last one counts them all; and how many join notices were delivered.

Every phase has a time limit; a measurement that fails is reported and left
out. The machine is shared and noisy: compare the designs within one run
(the ratios), not against figures from another day.
"""

import argparse
import collections
import os
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from chatroom.cli import raise_open_file_limit  # noqa: E402
from chatroom.measure import percentile  # noqa: E402

SERVERS = {
    "threaded": ["-m", "chatroom.server"],
    "relay": [os.path.join("solutions", "ch8_relay_server.py")],
    "selectors": [os.path.join("solutions", "ch5_selectors_server.py")],
    "asyncio": [os.path.join("tests", "asyncio_chat.py")],
}
SOURCE_ADDRESSES = 200  # clients bind to 127.0.0.1 ... 127.0.0.200 in turn
SOCKET_TIMEOUT = 5.0
WINDOW = 16            # lines each sender keeps in flight
LINE_BYTES = 100       # payload of one chat line
MIN_MESSAGES = 200     # lines sent per run, at least (more at small N: see --deliveries)
PHASE_SECONDS = 60.0   # give up on a run after this long (reported as incomplete)
SETTLE_SECONDS = 60.0  # give up waiting for a room to settle after this long
QUIET_SECONDS = 0.3    # no line for this long: the room has settled
FLOOD_LINE_BYTES = 2000
FLOOD_BYTES = 4 << 20  # at most this much to the client that never reads
JOIN_STORM_CLIENTS = 1000
DROPPED = b"dropped: it stopped reading"  # what each server logs when it drops a reader
SAMPLE_EVERY = 4       # the latency of every 4th line is measured
SAMPLED = re.compile(rb"> M \w (\d+) ")
SENDER_TAGS = [b" %s " % bytes([letter]) for letter in b"abcdefghijklmnopqrstuvwxyz"]
THREADED = ("threaded", "relay")  # a thread per client; the others have one thread in all


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


def cpu_seconds(pid):
    """User and system CPU time the process has used, or None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def available(kind):
    """True if the design's server can be run: its script, if it has one, exists."""
    script = SERVERS[kind][0]
    return script == "-m" or os.path.exists(os.path.join(REPO, script))


class ServerProcess:
    """A chat server in a subprocess; its log goes to a temporary file."""

    def __init__(self, kind, max_clients):
        self.log = tempfile.TemporaryFile()
        self.looked, self.overlap = 0, b""  # for logs_since_last_look
        command = [sys.executable, *SERVERS[kind], "127.0.0.1", "0",
                   "--max-clients", str(max_clients), "--no-flood-control"]
        env = dict(os.environ, PYTHONPATH=REPO)
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self.log,
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
        self.log.seek(0)
        output = self.log.read(2000).decode(errors="replace")
        self.stop()
        raise RuntimeError(f"the server did not start:\n{output}")

    def logged(self, text):
        """True if the server's log so far contains ``text``."""
        self.log.seek(0)
        return text in self.log.read()

    def logs_since_last_look(self, text):
        """True if ``text`` is in what the server has logged since the last call."""
        self.log.seek(self.looked)
        new = self.log.read()
        found = text in self.overlap + new
        self.overlap = (self.overlap + new)[-len(text):]
        self.looked += len(new)
        return found

    def rss_kib(self):
        return resident_kib(self.process.pid)

    def cpu_seconds(self):
        return cpu_seconds(self.process.pid)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.log.close()


def connect(port, index, receive_buffer=None):
    """A client socket from source address 127.0.0.(1 + index % 200)."""
    sock = socket.socket()
    sock.settimeout(SOCKET_TIMEOUT)
    if receive_buffer:  # before connecting: it sets the window the client offers
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    try:
        sock.bind((f"127.0.0.{1 + index % SOURCE_ADDRESSES}", 0))
    except OSError:  # macOS has only 127.0.0.1 unless told otherwise
        sock.bind(("127.0.0.1", 0))
    sock.connect(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def send_line(sock, data):
    """Send one short line on a non-blocking socket, waiting at most SOCKET_TIMEOUT."""
    sock.settimeout(SOCKET_TIMEOUT)
    sock.sendall(data)
    sock.setblocking(False)


class Room:
    """N clients in one chat room, read with selectors; some of them send.

    A chat line is ``m S ID xxx...``: S is the sender's letter, ID the message's
    number. Every SAMPLE_EVERY-th line starts with ``M`` and has its latency
    measured at every client; the others are only counted, so that reading
    costs this process little more than the ``recv`` calls.
    """

    def __init__(self, port, clients):
        self.port = port
        self.selector = selectors.DefaultSelector()
        self.clients = []
        self.tails = {}      # socket -> the unfinished line it has received
        self.welcomed = set()
        self.joins = 0       # "* NAME joined" lines received
        self.who = None      # the answer to the last /who
        self.last_arrival = 0.0
        self.sent_at = []    # message ID -> send time
        self.latencies = []
        self.deliveries = 0
        self.progress = []   # sender -> for each client, the last ID it has from that sender
        for index in range(clients):
            self.add(connect(port, index))

    def add(self, sock):
        sock.setblocking(False)
        self.tails[sock] = b""
        self.selector.register(sock, selectors.EVENT_READ, len(self.clients))
        self.clients.append(sock)

    def read(self, timeout):
        """Read what has arrived at any client; False if nothing came within ``timeout``."""
        events = self.selector.select(timeout)
        for key, _ in events:
            self.receive(key.fileobj, key.data)
        return bool(events)

    def receive(self, sock, index):
        try:
            data = sock.recv(1 << 16)
        except BlockingIOError:
            return
        if not data:
            raise RuntimeError("the server closed a connection")
        now = self.last_arrival = time.perf_counter()
        end = data.rfind(b"\n") + 1
        chunk, self.tails[sock] = self.tails[sock] + data[:end], data[end:]
        self.deliveries += chunk.count(b"\n")
        if not chunk.startswith(b"<") or b"\n*" in chunk:
            self.notices(sock, chunk)
        for text in SAMPLED.findall(chunk):
            self.latencies.append(now - self.sent_at[int(text)])
        for sender, seen in enumerate(self.progress):
            tag = SENDER_TAGS[sender]
            found = chunk.rfind(tag)
            if found >= 0:
                found += len(tag)
                seen[index] = int(chunk[found:chunk.index(b" ", found)])

    def notices(self, sock, chunk):
        """Count the server's own lines (those that start with '*')."""
        for line in chunk.split(b"\n"):
            if line.startswith(b"* Welcome"):
                self.welcomed.add(sock)
            elif line.startswith(b"* ") and line.endswith(b" joined"):
                self.joins += 1
            elif re.match(rb"\* \d+ here: ", line):
                self.who = int(line.split()[1])

    def settle(self, deadline, others=0):
        """Read until every client is welcomed, /who counts them all (and ``others``
        connected elsewhere) and all is quiet; False if that takes past ``deadline``."""
        while len(self.welcomed) < len(self.clients) and time.monotonic() < deadline:
            self.read(0.5)
        self.who = None
        send_line(self.clients[-1], b"/who\n")
        while time.monotonic() < deadline:
            if self.read(QUIET_SECONDS) or self.who is None:
                continue
            if self.who == len(self.clients) + others:
                return True
            self.who = None  # quiet, but someone is not in yet: ask again
            send_line(self.clients[-1], b"/who\n")
        return False

    def run(self, senders, messages, size=LINE_BYTES, until=None):
        """Send ``messages`` lines from the first ``senders`` clients, each with at most
        WINDOW in flight, until all have arrived everywhere (or ``until()`` is true).

        Returns (complete, deliveries per second); ``self.latencies`` holds the latencies.
        """
        self.latencies, self.deliveries = [], 0
        self.progress = [[-1] * len(self.clients) for _ in range(senders)]
        for sender, seen in enumerate(self.progress):
            seen[sender] = float("inf")  # no line comes back to its sender
        in_flight = [collections.deque() for _ in range(senders)]
        padding = b"x" * size
        remaining, started = messages, time.perf_counter()
        deadline = time.monotonic() + PHASE_SECONDS
        while time.monotonic() < deadline and not (until and until()):
            for sender, queue in enumerate(in_flight):
                everywhere = min(self.progress[sender])  # every ID up to this one has arrived
                while queue and queue[0] <= everywhere:
                    queue.popleft()
                while remaining and len(queue) < WINDOW:
                    queue.append(self.send(sender, padding))
                    remaining -= 1
            if not remaining and not any(in_flight):
                break
            self.read(0.5)
        complete = not remaining and not any(in_flight)
        elapsed = self.last_arrival - started
        return complete, self.deliveries / elapsed if elapsed > 0 else 0.0

    def send(self, sender, padding):
        message = len(self.sent_at)
        mark = b"m" if message % SAMPLE_EVERY else b"M"
        self.sent_at.append(time.perf_counter())
        send_line(self.clients[sender], b"%s%s%d %s\n" % (mark, SENDER_TAGS[sender],
                                                          message, padding))
        return message

    def close(self):
        self.selector.close()
        for sock in self.clients:
            sock.close()


class Session:
    """A fresh server of one design with N clients in its room, for one measurement."""

    def __init__(self, kind, clients, max_clients):
        self.server = ServerProcess(kind, max_clients)
        self.room = None
        self.extra = []
        try:
            self.before = self.server.rss_kib()
            self.started = time.perf_counter()
            self.room = Room(self.server.port, clients)
        except BaseException:
            self.close()
            raise

    def settle(self):
        if not self.room.settle(time.monotonic() + SETTLE_SECONDS, len(self.extra)):
            raise RuntimeError("the room did not settle")

    def kib_per_client(self):
        after = self.server.rss_kib()
        if self.before is None or after is None:
            return float("nan")
        return (after - self.before) / len(self.room.clients)

    def close(self):
        for sock in self.extra:
            sock.close()
        if self.room is not None:
            self.room.close()
        self.server.stop()


def measure(kind, clients, senders_list, messages):
    """One repeat: a fresh server, N clients, a run for each number of senders."""
    session = Session(kind, clients, 2 * clients + 100)  # past the reserve for new addresses
    try:
        session.settle()
        figures = {"kib": session.kib_per_client()}
        session.room.run(1, 5)  # warm-up
        for senders in senders_list:
            figures[senders] = run_once(session, senders, messages)
        return figures
    finally:
        session.close()


def run_once(session, senders, messages):
    """One run's figures: rate, latencies, and the server's CPU time per delivery."""
    before = session.server.cpu_seconds()
    complete, rate = session.room.run(senders, messages)
    after = session.server.cpu_seconds()
    room = session.room
    cpu = (after - before) / room.deliveries * 1e6 if before is not None else float("nan")
    return {"complete": complete, "rate": rate, "cpu_us": cpu,
            "p50": percentile(room.latencies, 50) * 1000,
            "p99": percentile(room.latencies, 99) * 1000}


def never_reads(kind, clients, senders):
    """N clients, one more that never reads, and a flood until the server drops it."""
    session = Session(kind, clients, 2 * clients + 100)  # past the reserve for new addresses
    try:
        stuck = connect(session.server.port, clients, receive_buffer=4096)
        session.extra.append(stuck)
        session.settle()
        server, room = session.server, session.room
        before = server.rss_kib()
        server.logs_since_last_look(DROPPED)
        _, rate = room.run(senders, FLOOD_BYTES // FLOOD_LINE_BYTES, FLOOD_LINE_BYTES,
                                  until=lambda: server.logs_since_last_look(DROPPED))
        dropped = server.logged(DROPPED)
        growth = (server.rss_kib() - before) / 1024 if before else float("nan")
        return {"dropped": dropped, "rate": rate, "growth_mib": growth,
                "sent_kib": len(room.sent_at) * FLOOD_LINE_BYTES / 1024}  # the last window too
    finally:
        session.close()


def join_storm(kind, clients):
    """Seconds from the first connect until a room of ``clients`` has settled."""
    session = Session(kind, clients, 2 * clients + 100)  # past the reserve for new addresses
    try:
        connected = time.perf_counter() - session.started
        settled = session.room.settle(time.monotonic() + SETTLE_SECONDS)
        return {"settled": settled, "connect_s": connected,
                "settle_s": session.room.last_arrival - session.started,
                "joins": session.room.joins}
    finally:
        session.close()


def spread(values, digits):
    """'median (min-max)' of the repeats."""
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:,.{digits}f}"
    return f"{middle:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def throughput_table(kinds, counts, senders_list, repeat, deliveries):
    """Measure every design ``repeat`` times at each N; print and return the figures."""
    header = (f"{'clients':>7} {'senders':>7} {'server':<9} {'deliveries/s':>27} "
              f"{'p50 ms':>19} {'p99 ms':>21} {'CPU us/dlv':>10} {'KiB/client':>10}")
    print(header)
    print("-" * len(header))
    results = {}
    for clients in counts:
        messages = max(MIN_MESSAGES, deliveries // (clients - 1))
        runs = collections.defaultdict(list)
        for index in range(repeat):
            turn = index % len(kinds)
            for kind in kinds[turn:] + kinds[:turn]:
                figures = attempt(f"{kind} with {clients} clients", measure,
                                  kind, clients, senders_list, messages)
                if figures:
                    runs[kind].append(figures)
        for senders in senders_list:
            for kind in kinds:
                if not runs[kind]:
                    continue
                results[clients, senders, kind] = row = summarize(runs[kind], senders)
                print(f"{clients:>7} {senders:>7} {kind:<9} {spread(row['rate'], 0):>27} "
                      f"{spread(row['p50'], 2):>19} {spread(row['p99'], 2):>21} "
                      f"{statistics.median(row['cpu_us']):>10.2f} "
                      f"{statistics.median(row['kib']):>10.1f}"
                      f"{'' if row['complete'] else '  INCOMPLETE (timed out)'}", flush=True)
    return results


def attempt(what, function, *args):
    """``function(*args)``, or None after saying why it failed: the other figures still count."""
    try:
        return function(*args)
    except (RuntimeError, OSError) as error:
        print(f"  FAILED: {what}: {error}", flush=True)
        return None


def summarize(repeats, senders):
    row = {name: [figures[senders][name] for figures in repeats]
           for name in ("rate", "p50", "p99", "cpu_us")}
    row["kib"] = [figures["kib"] for figures in repeats]
    row["complete"] = all(figures[senders]["complete"] for figures in repeats)
    return row


def print_ratios(results, counts, senders_list):
    """Each threaded design / the best single-threaded one, for deliveries/s and for CPU
    time per delivery."""
    print()
    print("threaded design / best single-threaded one (medians): deliveries/s (above 1.00: the "
          "threaded design delivers more), and CPU us/dlv (above 1.00: it uses more CPU per delivery)")
    for clients in counts:
        for senders in senders_list:
            rows = {kind: row for (n, s, kind), row in results.items()
                    if (n, s) == (clients, senders)}
            rate = {kind: statistics.median(row["rate"]) for kind, row in rows.items()}
            cpu = {kind: statistics.median(row["cpu_us"]) for kind, row in rows.items()}
            others = [kind for kind in rows if kind not in THREADED]
            if not others:
                continue
            fastest, thriftiest = max(others, key=rate.get), min(others, key=cpu.get)
            for kind in THREADED:
                if kind in rows:
                    print(f"  {clients:>5} clients, {senders} sender(s), {kind:<8}: deliveries/s "
                          f"{rate[kind] / rate[fastest]:.2f} (vs {fastest}), CPU per delivery "
                          f"{cpu[kind] / cpu[thriftiest]:.2f} (vs {thriftiest})")


def never_reads_table(kinds, counts, senders):
    print()
    print(f"A client that never reads, with {senders} sender(s) of {FLOOD_LINE_BYTES}-byte lines "
          f"(at most {FLOOD_BYTES >> 20} MiB) until it is dropped:")
    header = (f"{'clients':>7} {'server':<9} {'dropped':>8} {'sent KiB':>9} "
              f"{'deliveries/s':>13} {'growth MiB':>11}")
    print(header)
    print("-" * len(header))
    for clients in counts:
        for kind in kinds:
            row = attempt(f"{kind} with {clients} clients", never_reads, kind, clients, senders)
            if row:
                print(f"{clients:>7} {kind:<9} {'yes' if row['dropped'] else 'NO':>8} "
                      f"{row['sent_kib']:>9,.0f} {row['rate']:>13,.0f} "
                      f"{row['growth_mib']:>11.1f}", flush=True)


def join_storm_table(kinds, clients):
    print()
    print(f"Join storm: {clients} clients connect at once; seconds until the room has settled:")
    header = f"{'server':<9} {'connect s':>9} {'settled s':>9} {'join notices':>13}"
    print(header)
    print("-" * len(header))
    for kind in kinds:
        row = attempt(f"{kind} join storm", join_storm, kind, clients)
        if row:
            print(f"{kind:<9} {row['connect_s']:>9.2f} {row['settle_s']:>9.2f} "
                  f"{row['joins']:>13,}{'' if row['settled'] else '  DID NOT SETTLE'}",
                  flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="10,100,1000",
                        help="comma-separated numbers of clients in the room")
    parser.add_argument("--senders", default="1,5", help="comma-separated numbers of senders")
    parser.add_argument("--repeat", type=int, default=5, help="measurements per configuration")
    parser.add_argument("--deliveries", type=int, default=500_000,
                        help="deliveries per run, at least (lines = this / (N - 1))")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help="comma-separated designs to measure")
    parser.add_argument("--join-storm", type=int, default=JOIN_STORM_CLIENTS, metavar="N",
                        help="clients in the join storm (0: skip it)")
    parser.add_argument("--selectors-server", default=SERVERS["selectors"][0], metavar="FILE",
                        help="the selectors design to run (default: the reference answer)")
    parser.add_argument("--relay-server", default=SERVERS["relay"][0], metavar="FILE",
                        help="the relay design to run (default: the reference answer)")
    parser.add_argument("--quick", action="store_true",
                        help="10 and 100 clients, one repeat, fewer deliveries, "
                             "a join storm of 100")
    args = parser.parse_args(argv)
    SERVERS["selectors"] = [args.selectors_server]
    SERVERS["relay"] = [args.relay_server]
    if args.quick:
        args.clients, args.repeat, args.deliveries, args.join_storm = "10,100", 1, 200_000, 100
    counts = [int(count) for count in args.clients.split(",")]
    senders_list = [int(count) for count in args.senders.split(",")]
    kinds = [kind for kind in args.servers.split(",") if available(kind)]
    raise_open_file_limit(max(counts + [args.join_storm]) * 2 + 200)
    began = time.monotonic()
    print(f"Chat server benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"{args.repeat} repeat(s); median (min-max) of the repeats.")
    for kind in args.servers.split(","):
        if not available(kind):
            print(f"NOT MEASURED: {kind}: {SERVERS[kind][0]} does not exist (yet).")
    print(f"Each sender keeps {WINDOW} lines of {LINE_BYTES} bytes in flight; every server "
          "logs every line. CPU us/dlv: the server's CPU time per delivery.")
    results = throughput_table(kinds, counts, senders_list, args.repeat, args.deliveries)
    print_ratios(results, counts, senders_list)
    never_reads_table(kinds, counts, max(senders_list))
    if args.join_storm:
        join_storm_table(kinds, args.join_storm)
    print(f"Total time: {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
