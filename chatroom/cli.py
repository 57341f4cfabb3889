"""The command lines of the server and the client, and their plain-English errors.

Every mistake a user can make at the command line ends here in one line
that says what went wrong and what to do, never in a traceback. The
README's troubleshooting table lists these messages.
"""

import argparse
import errno
import ipaddress
import socket
import sys

from . import pieces
from .addresses import local_addresses

# Every address of this machine: IPv4 and IPv6 on one socket where the system can, else IPv4.
DEFAULT_HOST = "::" if socket.has_dualstack_ipv6() else "0.0.0.0"
DEFAULT_PORT = 5050
CONNECT_TIMEOUT = 5.0


class UsageError(Exception):
    """A command-line value that cannot be used; ``str(error)`` says why."""


def server_arguments(argv=None):
    """Parse ``[IP] [PORT] [--max-clients N] [--max-per-address N] [--no-chat-log]
    [--no-flood-control]``;
    a lone number is taken as the port."""
    parser = argparse.ArgumentParser(
        prog="python -m chatroom.server",
        description="Run the chat server. Stop it with Ctrl-C.")
    parser.add_argument("ip", nargs="?", default=DEFAULT_HOST,
                        help="address to listen on (default: all of this machine's, IPv4 and "
                             "IPv6; 0.0.0.0: all its IPv4 ones)")
    parser.add_argument("port", nargs="?", help=f"port to listen on (default {DEFAULT_PORT})")
    parser.add_argument("--max-clients", type=positive_number, default=100, metavar="N",
                        help="how many people may be connected at once (default 100)")
    parser.add_argument("--max-per-address", type=positive_number, default=10, metavar="N",
                        help="how many connections may come from one address (default 10)")
    parser.add_argument("--no-chat-log", action="store_true",
                        help="do not print what people say (connections and errors are "
                             "still printed)")
    parser.add_argument("--no-flood-control", action="store_true",
                        help="let everyone send as fast as they can, for load tests "
                             "(default: a burst of 10 lines, then 2 a second)")
    args = parser.parse_args(argv)
    if args.port is None and _is_whole_number(args.ip):
        args.ip, args.port = DEFAULT_HOST, args.ip
    return _checked(args, allow_port_zero=True)


def client_arguments(argv=None):
    """Parse ``IP [PORT]``."""
    parser = argparse.ArgumentParser(
        prog="python -m chatroom.client",
        description="Join a chat server. Leave with /quit, Ctrl-D or Ctrl-C.")
    parser.add_argument("ip", help="the server's address, as the server printed it")
    parser.add_argument("port", nargs="?", help=f"the server's port (default {DEFAULT_PORT})")
    args = parser.parse_args(argv)
    args.ip, port = _split_address(args.ip)
    if port is not None and args.port is not None:
        fail(f"the port is given twice: python -m chatroom.client {args.ip} {args.port}",
             status=2)
    args.port = args.port or port
    problem = _not_a_server_address(args.ip)
    if problem:
        fail(problem, status=2)
    return _checked(args, allow_port_zero=False)


def _split_address(text):
    """(address, port or None) from what people copy from a URL: [::1], [::1]:5050,
    127.0.0.1:5050 or labpc7:5050. A plain IPv6 address such as ::1 has no port."""
    if text.startswith("["):
        address, bracket, rest = text[1:].partition("]")
        if bracket and (not rest or rest.startswith(":")):
            return address, rest[1:] or None
    elif text.count(":") == 1:
        address, _, port = text.partition(":")
        return address, port
    return text, None


def _not_a_server_address(text):
    """Why the IP address ``text`` cannot be connected to, or None (names included)."""
    try:
        address = ipaddress.ip_address(text)  # keeps an IPv6 scope, such as %eth0
    except ValueError:
        return None  # a name: resolve() looks it up
    if address.is_unspecified:
        return (f"{text} is for a server, to listen on all its addresses; connect to one "
                "of them, such as 127.0.0.1 on the server's own machine")
    if address.version == 4 or not address.is_link_local:
        return None
    if not address.scope_id:
        return (f"{text} is a link-local address: add the network interface after it, such "
                f"as {text}%eth0 (Linux), %en0 (macOS) or %12 (Windows, see ipconfig)")
    # Windows numbers its interfaces (%12). Where if_nameindex is missing, the name is
    # left to getaddrinfo, which says it cannot find the address.
    names = [name for _, name in socket.if_nameindex()] if hasattr(socket, "if_nameindex") else []
    if names and not address.scope_id.isdigit() and address.scope_id not in names:
        return (f"this machine has no network interface {address.scope_id!r} (in {text}); "
                f"its interfaces are: {', '.join(names)}")
    return None


def _checked(args, allow_port_zero):
    try:
        args.port = parse_port(args.port or str(DEFAULT_PORT), allow_port_zero)
        args.host = resolve(args.ip)
    except UsageError as problem:
        fail(str(problem), status=2)
    return args


def positive_number(text):
    """An argparse type: a whole number of at least 1."""
    if not _is_whole_number(text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)


def _is_whole_number(text):
    # str.isdigit() alone accepts "²" and other digits that int() refuses.
    return text.isascii() and text.isdigit()


def parse_port(text, allow_zero=False):
    """The port number in ``text``, or UsageError.

    A port is a whole number written in ASCII digits, from 1 to 65535; 0 too
    when ``allow_zero`` (a server on port 0 gets any free port). The error
    says what is allowed and repeats what was given, for example:
    the port must be a whole number from 1 to 65535, not 'http'
    """
    ### BEGIN SOLUTION
    lowest = 0 if allow_zero else 1
    if not _is_whole_number(text) or not lowest <= int(text) <= 65535:
        raise UsageError(f"the port must be a whole number from {lowest} to 65535, not {text!r}")
    return int(text)
    ### END SOLUTION


def resolve(host):
    """The IP address of ``host`` (a name or an address), or UsageError.

    Asks ``socket.getaddrinfo`` for TCP addresses and prefers IPv4. A name
    that cannot be found (socket.gaierror, or UnicodeError for a name that
    is not valid) gives a UsageError that names it and suggests an IP address.
    """
    ### BEGIN SOLUTION
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UsageError(f"cannot find the address of {host!r}: check the spelling, "
                         "or give an IP address such as 192.168.1.20") from None
    ipv4 = [info for info in infos if info[0] == socket.AF_INET]
    return (ipv4 or infos)[0][4][0]
    ### END SOLUTION


def require_pieces(script, variation=None):
    """Exit with one line, naming the exercise to finish, if ``script`` cannot run yet.

    ``variation`` is a server class of a challenge: its own stubs count too.
    """
    try:
        pieces.require_for(script)
        if variation is not None:
            pieces.require_written(variation)
    except pieces.PieceMissing as problem:
        fail(str(problem))


def fail(message, status=1):
    """Print one line of error and exit with ``status``."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(status)


def has_errno(error, *names):
    """True if ``error`` carries one of the named errno codes, or its Windows twin."""
    codes = {getattr(errno, prefix + name, -1) for name in names for prefix in ("", "WSA")}
    return error.errno in codes or getattr(error, "winerror", None) in codes


def explain_listen_error(error, host, port):
    """Why the server could not listen on (host, port), and what to do, in one line.

    The line has no newline: ``fail`` prints it after "error: ". What it must
    hold, case by case, with an example ("..." is yours to word):

    - the port is in use (EADDRINUSE; on Windows EACCES too): the words
      "already in use", and the command that tries the next port (5050 after
      65535). For 127.0.0.1 and port 5050:
      "port 5050 is already in use on 127.0.0.1: ... python -m chatroom.server 127.0.0.1 5051"
    - the address is not this machine's (EADDRNOTAVAIL): "HOST is not an
      address of this machine", then this machine's addresses
      (``local_addresses()``, 127.0.0.1 among them) and 0.0.0.0. For 192.0.2.9:
      "192.0.2.9 is not an address of this machine. ... 192.168.1.20, 127.0.0.1 ... 0.0.0.0"
    - a port below 1024 without the right (EACCES, except on Windows): the
      number 1024, as the first port to use instead. For port 80:
      "port 80 needs administrator rights; use a port from 1024 up, such as 5050"
    - anything else: exactly "cannot listen on HOST port PORT: " and the
      error's strerror (the error itself if it has none). For EMFILE on 127.0.0.1:
      "cannot listen on 127.0.0.1 port 5050: Too many open files"
    """
    ### BEGIN SOLUTION
    if has_errno(error, "EADDRINUSE") or (has_errno(error, "EACCES") and sys.platform == "win32"):
        return (f"port {port} is already in use on {host}: is another server still running? "
                f"Stop it, or choose another port, for example: "
                f"python -m chatroom.server {host} {port + 1 if port < 65535 else 5050}")
    if has_errno(error, "EADDRNOTAVAIL"):
        return (f"{host} is not an address of this machine. Its addresses are: "
                f"{', '.join(local_addresses())}; or use 0.0.0.0 to listen on all of them")
    if has_errno(error, "EACCES"):
        return (f"port {port} needs administrator rights; "
                f"use a port from 1024 up, such as {DEFAULT_PORT}")
    return f"cannot listen on {host} port {port}: {error.strerror or error}"
    ### END SOLUTION


def explain_connect_error(error, host, port):
    """Why the client could not connect to (host, port), and what to do."""
    where = f"{host} port {port}"
    if isinstance(error, socket.timeout):
        return (f"no answer from {where} within {CONNECT_TIMEOUT:g} seconds: check the "
                "address, that both machines are on the same network, and the firewall "
                "on the server's machine")
    if isinstance(error, ConnectionRefusedError):
        return (f"connection refused by {where}: is the server running, with this "
                "address and port? If it listens on 127.0.0.1, only its own machine "
                "can connect; start it on 0.0.0.0. A firewall can also refuse")
    if has_errno(error, "ENETUNREACH"):
        return (f"cannot reach {host}: this machine has no route to that network. "
                "Check the address, and that both machines are on the same network")
    if has_errno(error, "EHOSTUNREACH", "EHOSTDOWN"):
        # A firewall that rejects (firewalld's "prohibited") gives the same error as a
        # machine that is not there, so the message names both.
        return (f"cannot reach {where}: no machine answers at that address, or a firewall "
                "on it rejects the connection. Check the address, and the firewall on the "
                "server's machine")
    if has_errno(error, "EADDRNOTAVAIL", "EAFNOSUPPORT"):
        # Linux says EADDRNOTAVAIL for any IPv6 address when IPv6 is turned off.
        return (f"cannot connect to {where}: this machine has no address to connect from "
                "(is IPv6 turned off here?). Use the server's IPv4 address")
    return f"cannot connect to {where}: {error.strerror or error}"


def where_to_connect(host, port):
    """The lines a starting server prints: where it listens, and how clients join."""
    lines = [f"Chat server listening on {host} port {port}. Stop it with Ctrl-C."]
    if host == "::" and not socket.has_dualstack_ipv6():  # IPv6 only (OpenBSD, for one)
        lines.append(f"Only IPv6 clients can connect; from this machine: "
                     f"python -m chatroom.client ::1 {port}")
    elif host in ("0.0.0.0", "::"):
        others = [address for address in local_addresses() if not address.startswith("127.")]
        lines += [f"From another machine: python -m chatroom.client {address} {port}"
                  for address in others]
        lines.append(f"From this machine:    python -m chatroom.client 127.0.0.1 {port}")
        if host == "::":
            lines.append("IPv6 clients can connect too, to an IPv6 address of this machine "
                         "(::1 from this machine).")
    elif host.startswith("127.") or host == "::1":
        lines.append(f"Only this machine can connect: python -m chatroom.client {host} {port}")
        lines.append(f"To let other machines in, start the server on 0.0.0.0 instead of {host}.")
    else:
        lines.append(f"Clients connect with: python -m chatroom.client {host} {port}")
    return lines


def forgive_unprintable_characters():
    """Print "?" for a character the terminal cannot show, instead of crashing on it.

    A Windows pipe or an old terminal may take only cp1252 or ASCII, and any
    user can send a "☕".
    """
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # not when replaced by something else
            stream.reconfigure(errors="replace")


def raise_open_file_limit(wanted=8192):
    """Let this process hold more sockets at once, where the OS allows (Linux, macOS)."""
    try:
        import resource
    except ImportError:  # Windows has no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass  # keep the old limit; the server still runs
