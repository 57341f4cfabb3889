"""Challenge 9: how long does a line take? A latency probe for a chat room.

At the lab the room runs on one machine and the people on others. How long
does a line take from one keyboard to another's screen, through the
network and the server? Measure it from any machine in the room: join it
twice, send numbered lines on one connection and read them on the other.
Both ends are in this one program, so one clock times both: no two
machines' clocks need to agree::

    $ python exercises/ch9_latency_probe.py 192.168.1.20 5050 --lines 20
    * 20 lines sent, 20 received, 0 lost
    * latency: p50 0.84 ms, p99 2.31 ms, max 3.02 ms

Try it on your own room, then on a classmate's across the lab; then send
faster than the room's flood control allows (a burst of 10 lines, then 2
a second from one address) and watch the latency it adds.

``join(host, port, timeout)`` connects and waits until the room has let
the connection in: its first line is the welcome, and a ``/who`` it sends
has been answered ("* N here: ..."). The room sends the welcome before it
adds a newcomer, so only the answer to /who says that lines from the
others will reach it. It returns the socket, and the bytes it received
after the answer (the start of what comes next; often b""). Any wait
longer than ``timeout`` seconds raises ``socket.timeout``.

``measure(host, port, count, interval, timeout)`` joins twice (the
listener, then the talker), sends ``count`` lines from the talker, one
every ``interval`` seconds, and reads the listener meanwhile. Line N is
``probe TOKEN N``, where TOKEN (random, made once per measure, such as
``secrets.token_hex(4)``) tells this probe's lines apart from everyone
else's: the room relays it as ``<NAME> probe TOKEN N``, and every other
line (notices, other people, another probe) is ignored. A line's latency
is the time from just before its send to its arrival, on one monotonic
clock (``time.perf_counter``). It stops once every line has come, or
``timeout`` seconds after the last send; it closes both connections. It
returns plain data: ``{"sent": count, "latencies": [seconds, in the
order of the lines' numbers, the lost ones left out], "lost": [the
numbers of the lines that never came]}``.

``report(result)`` makes the lines to print from what ``measure``
returned, with ``chatroom.measure.percentile`` (exercise 8), in
milliseconds, two decimals::

    * 20 lines sent, 18 received, 2 lost
    * latency: p50 0.84 ms, p99 2.31 ms, max 3.02 ms

and, when no line came back at all, the first line, then ``* no line came
back: is the room relaying?``.

The reading must never hold up the sending, nor the reverse: one thread
can do both, with ``select`` and a deadline for the next send. ``main``
(given) is the command line.

Check it:
    python tests/grade.py --student -k ch9
"""

import argparse
import re
import secrets
import select
import socket
import sys
import time

from chatroom import cli, pieces
from chatroom.measure import percentile

LINES, INTERVAL, TIMEOUT = 20, 0.5, 5.0  # within flood control: 2 lines a second
READ_BYTES = 65536


def join(host, port, timeout=TIMEOUT):
    """A connection that is in the room: (its socket, what it received after the /who answer)."""
    raise NotImplementedError("challenge 9: join")


def measure(host, port, count=LINES, interval=INTERVAL, timeout=TIMEOUT):
    """Send ``count`` numbered lines through the room and time each one's arrival; a dict."""
    raise NotImplementedError("challenge 9: measure")


def report(result):
    """The lines to print for what ``measure`` returned."""
    raise NotImplementedError("challenge 9: report")


def main(argv=None):
    """The command line: probe a room; exit 0 if every line came back, else 1."""
    parser = argparse.ArgumentParser(prog="python exercises/ch9_latency_probe.py",
                                     description="Measure how long a line takes through a chat room.")
    parser.add_argument("ip", help="the room's address, as its server printed it")
    parser.add_argument("port", nargs="?", default=str(cli.DEFAULT_PORT),
                        help=f"the room's port (default {cli.DEFAULT_PORT})")
    parser.add_argument("--lines", type=cli.positive_number, default=LINES,
                        help=f"how many lines to send (default {LINES})")
    parser.add_argument("--interval", type=float, default=INTERVAL,
                        help=f"seconds between two lines (default {INTERVAL:g})")
    try:
        pieces.require(1, 8)  # parse_port, resolve; percentile
        pieces.require_written(measure)
    except pieces.PieceMissing as problem:
        cli.fail(str(problem))
    args = parser.parse_args(argv)
    try:
        host, port = cli.resolve(args.ip), cli.parse_port(args.port)
    except cli.UsageError as problem:
        cli.fail(str(problem), status=2)
    try:
        result = measure(host, port, args.lines, args.interval)
    except OSError as error:
        cli.fail(cli.explain_connect_error(error, args.ip, port))
    for line in report(result):
        print(line, flush=True)
    return 0 if not result["lost"] else 1


if __name__ == "__main__":
    sys.exit(main())
