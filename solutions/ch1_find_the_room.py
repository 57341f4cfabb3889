"""Challenge 1: find the chat room: which port is it on?

Lesson 1 showed what a connection to a port can meet: a program that
listens there (the connection is accepted), nothing at all (refused, at
once), or a firewall that drops the attempt (it times out). A chat room is
a program that greets you: the first line it sends is one of its notices,
which start with "* " (the welcome, or "* Sorry, the room is full...").
So knocking on each port of a range finds the chat rooms on a machine::

    $ python exercises/ch1_find_the_room.py 127.0.0.1 5048-5052
     5048  refused
     5049  silent
     5050  chat room  * Welcome to the chat room, 127.0.0.1! Type /help for commands.
     5051  other      SSH-2.0-OpenSSH_9.6
     5052  refused
    1 chat room among 5 ports of 127.0.0.1

``knock(host, port, timeout)`` says what one port is, as a pair (what, line):

- ("chat room", the first line) when the connection is accepted and the
  first whole line that comes starts with "* ";
- ("other", the first line) when a first line comes that does not (an SSH
  or mail server greets you too); ("other", "") when the other side closes
  or resets the connection before a whole line (a reset may come so soon
  that connecting itself reports it), or when the first line is longer
  than MAX_GREETING bytes: no chat room sends one;
- ("silent", "") when the connection is accepted but no whole line comes
  within ``timeout`` seconds of the call (a server that waits for you to
  speak first, or trickles its bytes), or when connecting takes longer
  than that (a firewall drops the attempt);
- ("refused", "") when nothing listens there;
- ("unreachable", "") for any other failure to connect (no route to the
  host, the network is down).

The whole knock takes at most about ``timeout`` seconds from the call,
however the other side sends its bytes, and it sends nothing: it closes
the connection as soon as it knows. A line ends at b"\\n" (a b"\\r" before
it is not part of it); it is decoded as UTF-8, a byte that is not UTF-8
becoming "\\ufffd", and every character that is not printable
(``str.isprintable``: escape codes, control characters) becomes "?", so
that a hostile port cannot take over your terminal.

``ports(text)`` reads the range from the command line: "5048-5052" (both
ends included) or a single port, "5050". Each end is a port as
``chatroom.cli.parse_port`` reads it (exercise 1); the first is not after
the last; at most MAX_PORTS ports. Anything else raises
``chatroom.cli.UsageError`` with one sentence that says what is allowed.

``scan(host, ports, timeout)`` knocks on each port in turn and returns a
list of (port, what, line), in the order of ``ports``.

``report`` (given) makes the lines to print, and ``main`` (given) is the
command line: ``python exercises/ch1_find_the_room.py HOST FIRST-LAST
[--timeout SECONDS]``.

Check it:
    python tests/grade.py --student -k ch1
"""

import argparse
import socket
import sys
import time

from chatroom import cli, pieces

MAX_PORTS = 100
"""The most ports one scan knocks on: it is a search for a room, not a port scan of a machine."""

MAX_GREETING = 1024
"""The longest first line worth reading, in bytes: a chat room's welcome is far shorter."""

TIMEOUT = 0.5
"""How long one knock waits, in seconds: plenty on a LAN, where an answer takes a millisecond."""


def ports(text):
    """The ports of a range written FIRST-LAST (or a single PORT), or UsageError."""
    ### BEGIN SOLUTION
    first, dash, last = text.partition("-")
    try:
        low = cli.parse_port(first)
        high = cli.parse_port(last) if dash else low
    except cli.UsageError as problem:
        raise cli.UsageError(f"expected a port or a range such as 5048-5052: {problem}") from None
    if low > high:
        raise cli.UsageError(f"the range {text!r} ends before it starts: write the lower port first")
    if high - low + 1 > MAX_PORTS:
        raise cli.UsageError(f"the range {text!r} has {high - low + 1} ports: at most "
                             f"{MAX_PORTS} at a time")
    return list(range(low, high + 1))
    ### END SOLUTION


def knock(host, port, timeout=TIMEOUT):
    """What listens on (host, port): a pair (what, line), all within ``timeout`` seconds."""
    ### BEGIN SOLUTION
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return "refused", ""
    except socket.timeout:
        return "silent", ""
    except (ConnectionResetError, ConnectionAbortedError):
        return "other", ""  # it answered, and hung up before connect() even returned
    except OSError:
        return "unreachable", ""
    with sock:
        greeting = first_line(sock, deadline)
    if greeting is None:
        return "silent", ""
    if greeting.startswith("* "):
        return "chat room", greeting
    return "other", greeting
    ### END SOLUTION


def first_line(sock, deadline):
    """The first line ``sock`` receives before ``deadline`` (time.monotonic()), made
    printable; "" if the connection ends first or the line is too long; None if
    the time runs out first."""
    ### BEGIN SOLUTION
    received = b""
    while b"\n" not in received:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)  # each recv waits only for what is left of the knock
        try:
            data = sock.recv(MAX_GREETING + 1 - len(received))
        except socket.timeout:
            return None
        except OSError:  # reset
            return ""
        if not data:
            return ""
        received += data
        if len(received) > MAX_GREETING and b"\n" not in received[:MAX_GREETING + 1]:
            return ""
    raw = received.split(b"\n", 1)[0]
    if len(raw) > MAX_GREETING:
        return ""
    text = raw.removesuffix(b"\r").decode("utf-8", "replace")
    return "".join(char if char.isprintable() else "?" for char in text)
    ### END SOLUTION


def scan(host, ports, timeout=TIMEOUT):
    """[(port, what, line), ...]: ``knock`` on each of ``ports``, in order."""
    ### BEGIN SOLUTION
    return [(port, *knock(host, port, timeout)) for port in ports]
    ### END SOLUTION


def report(host, found):
    """The lines to print for the results of ``scan``: one per port, then a summary."""
    lines = [f"{port:>5}  {what:<9}  {line}".rstrip() for port, what, line in found]
    rooms = sum(1 for _, what, _ in found if what == "chat room")
    counted = {0: "no chat room", 1: "1 chat room"}.get(rooms, f"{rooms} chat rooms")
    lines.append(f"{counted} among {len(found)} port{'s' * (len(found) != 1)} of {host}")
    return lines


def main(argv=None):
    """The command line: knock on a range of ports; exit 0 if a chat room answered, else 1."""
    parser = argparse.ArgumentParser(prog="python exercises/ch1_find_the_room.py",
                                     description="Find the ports where a chat room answers.")
    parser.add_argument("host", help="the machine to look at, such as 127.0.0.1 or labpc7")
    parser.add_argument("ports", help="a port, or a range such as 5048-5052")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help=f"seconds to wait on each port (default {TIMEOUT})")
    try:
        pieces.require(1)  # parse_port and resolve
        pieces.require_written(knock)
    except pieces.PieceMissing as problem:
        cli.fail(str(problem))
    args = parser.parse_args(argv)
    try:
        host, wanted = cli.resolve(args.host), ports(args.ports)
    except cli.UsageError as problem:
        cli.fail(str(problem), status=2)
    found = scan(host, wanted, args.timeout)
    for line in report(args.host, found):
        print(line, flush=True)
    return 0 if any(what == "chat room" for _, what, _ in found) else 1


if __name__ == "__main__":
    sys.exit(main())
