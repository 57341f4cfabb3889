"""Benchmark: what one person can do to the chat room, in figures (issue 11).

    python tests/benchmark_abuse.py           # medians of 3 runs: about a minute
    python tests/benchmark_abuse.py --quick   # one run of each: about 25 s
    python tests/benchmark_abuse.py --full    # and a vanished peer with the default
                                              # keepalive timers: 2 more minutes

The same scenarios as tests/test_abuse.py, which checks them; here they are measured:
- a newcomer's wait: 10 idle connections from 127.0.0.1 (its limit) that never
  send a byte; the 11th from there is turned away, and a newcomer from 127.0.0.2
  (127.0.0.1 on macOS, which then is turned away too) is welcomed: milliseconds
  from connect to the first line;
- a vanished peer: a client in a network namespace whose link goes down (no FIN,
  no RST), in a quiet room: seconds until the server notices, with keepalive
  (1, 1, 2), and (60, 10, 5), the default, with --full. Needs Linux and root;
- a flood: one client sends 20,000 lines of 1 KB as fast as it can for
  FLOOD_SECONDS while a reader reads at 100 KB/s and a third person says one
  line: the flooder's lines/s reaching the reader after the first second,
  the reader's fate, and how long the third person's line took; with flood
  control (the default) and without (flood_limit=None), for contrast;
- look-alike names: each name tried beside alice, bob and mallory, and the
  reserved "You": refused (and why) or accepted;
- stop with a lagging client: 100 KB wait in the server for a client that
  starts reading only when stop() is called: how long stop() takes, how many
  of the lines and whether the goodbye reached it, at two reading speeds.

Servers run in this process, on loopback, except the vanished peer's, which runs
in a namespace of its own. Every phase has a time limit. The machine is shared
and noisy: read the figures as orders of magnitude.
"""

import argparse
import os
import signal
import statistics
import sys
import threading
import time

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(TESTS), TESTS]  # the package, and the tests' helpers
from chatroom.defences import DefendedServer as ChatServer  # noqa: E402
from chatroom.server import GOODBYE  # noqa: E402
from conftest import Script, script_env  # noqa: E402
from test_abuse import (SERVER, SERVER_HOST, Client, Machines, SmallSendBuffers,  # noqa: E402
                        flood, nick, read_paced, why_no_namespaces)

FLOOD_SECONDS = 3.0
READER_BYTES_PER_SECOND = 100_000
LAGGING_BYTES = 100_000
NOTICE_LIMIT_SECONDS = 200.0  # give up on noticing a vanished peer after this long
TRIED_NAMES = ["alice", "Alice", "ALICE", "aIice", "a1ice", "alIce", "AL1CE", "alice2",
               "alicia", "b0b", "B0B", "bob_", "bobby", "You", "you", "Y0U", "yOu", "your",
               "rnallory", "mallory", "\u0430lice", "127.0.0.1", "I1l"]


def newcomer_wait():
    """Milliseconds to the first line: the 11th from 127.0.0.1, and a newcomer from elsewhere."""
    with ChatServer(on_event=lambda text: None) as server:
        idle = [Client(server.address) for _ in range(10)]
        try:
            for client in idle:
                client.read_line()  # its welcome: it is in the room
            figures = {}
            for what, source in (("11th from 127.0.0.1", None), ("from 127.0.0.2", "127.0.0.2")):
                began = time.monotonic()
                try:
                    client = Client(server.address, source=source)
                except OSError:  # macOS: 127.0.0.2 is not there unless aliased
                    client = Client(server.address)
                with client:
                    first = client.read_line()
                figures[what] = ((time.monotonic() - began) * 1000, first.split(",")[0])
            return figures
        finally:
            for client in idle:
                client.close()


def vanished_peer(keepalive):
    """Seconds from pulling a quiet client's cable until the server notices."""
    machines = Machines()
    machines.build()
    started = []
    try:
        def run(host, *arguments):
            started.append(Script("netns", "exec", host, sys.executable, *arguments,
                                  program="ip", env=script_env()))
            return started[-1]

        server = run(machines.server, "-c", SERVER, SERVER_HOST, repr(keepalive))
        port = server.wait_for("listening on port")[-1].split()[-1]
        client = run(machines.client, "-m", "chatroom.client", SERVER_HOST, port)
        client.wait_for("* Welcome")
        machines.pull_the_cable()
        pulled = time.monotonic()
        server.wait_for(" disconnected", timeout=NOTICE_LIMIT_SECONDS)
        noticed = time.monotonic() - pulled
        server.process.send_signal(signal.SIGINT)
        server.finish()
        return noticed
    finally:
        for script in started:
            script.kill()
        machines.remove()


def flooded(flood_limit):
    """The flooder's lines/s reaching a reader at 100 KB/s, its fate, the honest line's delay."""
    events = []  # (time, event): the server says when it drops a reader
    server = ChatServer(flood_limit=flood_limit,
                        on_event=lambda text: events.append((time.monotonic(), text))).start()
    clients = []
    try:
        clients = [Client(server.address) for _ in range(3)]
        reader, flooder, third = clients
        for client in clients:
            client.joined()
        nick(reader, "reader")
        nick(flooder, "flooder")
        data = "".join(f"flood {number:05} {'x' * 1000}\n" for number in range(20_000)).encode()
        stop_flooding, heard = threading.Event(), []
        began = time.monotonic()
        threads = [threading.Thread(target=flood, args=(flooder.sock, data, stop_flooding)),
                   threading.Thread(target=read_paced, args=(
                       reader, READER_BYTES_PER_SECOND, heard, began + FLOOD_SECONDS + 3))]
        for thread in threads:
            thread.start()
        time.sleep(FLOOD_SECONDS / 2)
        said = time.monotonic()
        third.send("an honest line")
        time.sleep(FLOOD_SECONDS / 2)
        ended = time.monotonic()
        server.stop()
        stop_flooding.set()
        for thread in threads:
            thread.join(10)
        arrivals = [at - began for at, line in list(heard)
                    if line and line.startswith("<flooder> ") and at <= ended]
        after_first_second = [at for at in arrivals if at > 1.0]
        dropped = [at - began for at, text in events if text.startswith("reader dropped")]
        honest = [at - said for at, line in heard if line and line.endswith("an honest line")]
        flooder.sock.settimeout(5)
        notices = sum(1 for line in flooder.read_to_end() if line.startswith("* Slow down"))
        return {"rate": len(after_first_second) / (ended - began - 1.0),
                "dropped": dropped[0] if dropped else None,
                "honest_ms": honest[0] * 1000 if honest else None, "notices": notices}
    finally:
        server.stop()
        for client in clients:
            client.close()


def look_alike_names():
    """(name, the server's answer) for each of TRIED_NAMES, beside alice, bob and mallory."""
    with ChatServer(on_event=lambda text: None) as server:
        clients = [Client(server.address) for _ in range(4)]
        try:
            for client, name in zip(clients, ("alice", "bob", "mallory")):
                client.joined()
                nick(client, name)
            eve = clients[3]
            eve.joined()
            return [(name, nick(eve, name)) for name in TRIED_NAMES]
        finally:
            for client in clients:
                client.close()


def stop_with_lagging_client(bytes_per_second):
    """stop()'s seconds, lines received of those sent, and the goodbye, for a lagging client."""
    server = SmallSendBuffers(flood_limit=None, on_event=lambda text: None).start()
    try:
        with Client(server.address, receive_buffer=4096) as lagging, \
                Client(server.address) as sender:
            lagging.joined(), sender.joined()
            said = [f"{number:04} " + "y" * 995 for number in range(LAGGING_BYTES // 1000)]
            sender.send_raw("".join(line + "\n" for line in said).encode())
            sender.send("/who")  # answered once every line went to every outbox
            sender.read_until(lambda line: " here: " in line)
            durations = []

            def stop():
                began = time.monotonic()
                server.stop(timeout=1.0)
                durations.append(time.monotonic() - began)

            stopper = threading.Thread(target=stop)
            stopper.start()
            heard = []
            read_paced(lagging, bytes_per_second, heard, time.monotonic() + 5)
            stopper.join(10)
            lines = [line for _, line in heard if line]
            got = sum(1 for line in lines if line.startswith("<"))
            return durations[0], got, len(said), GOODBYE in lines
    finally:
        server.stop()


def repeated(function, repeat, *args):
    """The results of ``repeat`` calls; a call that fails is reported and left out."""
    results = []
    for _ in range(repeat):
        try:
            results.append(function(*args))
        except (AssertionError, OSError, RuntimeError) as error:
            print(f"  FAILED: {function.__name__}{args}: {error}", flush=True)
    return results


def median(values, digits=1):
    values = [value for value in values if value is not None]
    if not values:
        return "-"
    low, high = min(values), max(values)
    return f"{statistics.median(values):.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--quick", action="store_true", help="one run of each")
    parser.add_argument("--full", action="store_true",
                        help="also a vanished peer with the default keepalive timers (~2 min)")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    began = time.monotonic()
    print(f"Abuse benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"{repeat} run(s); median (min-max) of the runs.")

    print("\nA newcomer's wait, with 10 idle connections from 127.0.0.1 (its limit):")
    runs = repeated(newcomer_wait, repeat)
    for what in ("11th from 127.0.0.1", "from 127.0.0.2"):
        answers = {run[what][1] for run in runs}
        print(f"  {what:<20} {median([run[what][0] for run in runs], 2):>22} ms   "
              f"{' / '.join(sorted(answers))}")

    print("\nA vanished peer in a quiet room (link down: no FIN, no RST); seconds to notice:")
    reason = why_no_namespaces()
    timers = [(1, 1, 2)] + ([(60, 10, 5)] if args.full else [])
    for keepalive in timers:
        if reason:
            print(f"  keepalive {keepalive}: NOT MEASURED: {reason}")
            continue
        runs = repeated(vanished_peer, repeat if keepalive == (1, 1, 2) else 1, keepalive)
        idle, interval, probes = keepalive
        print(f"  keepalive {str(keepalive):<12} {median(runs, 2):>22} s   "
              f"(idle + interval x probes = {idle + interval * probes} s)")
    if not args.full:
        print("  keepalive (60, 10, 5), the default: about 110 s; measured with --full")

    print(f"\nA flood of 20,000 1-KB lines for {FLOOD_SECONDS:g} s; a reader at "
          f"{READER_BYTES_PER_SECOND // 1000} KB/s:")
    header = (f"  {'flood control':<14} {'lines/s to others':>22} {'reader':>20} "
              f"{'honest line ms':>22} {'notices':>8}")
    print(header)
    for flood_limit in ((10, 2.0), None):
        runs = repeated(flooded, repeat, flood_limit)
        drops = [run["dropped"] for run in runs if run["dropped"] is not None]
        fate = (f"kept in {len(runs) - len(drops)} of {len(runs)}" if len(drops) < len(runs)
                else f"dropped after {statistics.median(drops):.1f} s")
        print(f"  {str(flood_limit):<14} {median([run['rate'] for run in runs]):>22} "
              f"{fate:>20} {median([run['honest_ms'] for run in runs]):>22} "
              f"{median([run['notices'] for run in runs], 0):>8}", flush=True)
    print(f"  (honest line -: it had not reached the reader {FLOOD_SECONDS / 2 + 3:g} s later)")

    print("\nNames tried beside alice, bob and mallory (and the reserved You):")
    for name, answer in look_alike_names():
        verdict = "accepted" if answer.startswith("* you are now") else \
            "refused: " + answer.removeprefix("* ")
        print(f"  {name!r:<14} {verdict}")

    print(f"\nstop(timeout=1.0) with {LAGGING_BYTES // 1000} KB waiting for a client that "
          "reads only once stop() is called:")
    for pace in (400_000, 50_000):
        runs = repeated(stop_with_lagging_client, repeat, pace)
        got = median([run[1] for run in runs], 0)
        print(f"  reading {pace // 1000:>3} KB/s: stop() {median([run[0] for run in runs], 2)} s;"
              f" lines received {got} of {runs[0][2] if runs else '-'}; goodbye received in "
              f"{sum(run[3] for run in runs)} of {len(runs)} runs", flush=True)
    print(f"\nTotal time: {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
