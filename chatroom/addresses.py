"""This machine's IP addresses: the ones a client on another machine can use.

There is no single portable call for this, so ``local_addresses`` asks in
three ways and merges the answers. Only the host-name lookup may ask the network
(DNS, or mDNS on macOS, where it can stall for seconds); the other two send nothing.
"""

import ipaddress
import socket

# An address reserved for documentation (RFC 5737): it never answers, and a
# UDP "connect" to it only asks the routing table which address we would use.
_ROUTE_PROBE = ("192.0.2.1", 9)


def local_addresses():
    """This machine's IPv4 addresses, loopback last, each once."""
    found = set(_hostname_addresses()) | set(_linux_addresses())
    found.update(_outgoing_address())
    found.add("127.0.0.1")
    return sorted(found, key=lambda text: (text.startswith("127."), ipaddress.ip_address(text)))


def _hostname_addresses():
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return []
    return [info[4][0] for info in infos]


def _outgoing_address():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(_ROUTE_PROBE)
        except OSError:  # no route out of this machine at all
            return []
        return [probe.getsockname()[0]]


def _linux_addresses():
    """Addresses the Linux kernel calls LOCAL, from /proc (empty elsewhere)."""
    try:
        with open("/proc/net/fib_trie", encoding="ascii") as table:
            lines = table.read().splitlines()
    except OSError:
        return []
    found = []
    for previous, line in zip(lines, lines[1:]):
        if line.strip() == "/32 host LOCAL":
            found.append(previous.split()[-1])
    return found
