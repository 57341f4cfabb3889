"""The defences a real chat room needs, around the core that chatroom/server.py builds.

The core relays every line from anyone to everyone, as fast as it comes. That
is the whole of a chat room among friends. Open to a class, or to the
Internet, one careless or hostile person could spoil it for everyone:

    flooding          a script sends thousands of lines a second
                      -> flood control: one allowance per address ("fakelag")
    many connections  one machine opens hundreds of idle connections
                      -> at most ``max_per_address`` connections from one address
    vanished peers    a machine loses power and never says goodbye
                      -> TCP keepalive probes a silent peer
    join storms       every join and leave is a line to everyone
                      -> announced only in small rooms, and at a bounded rate per address
    padding           runs of blanks push text to the start of a terminal's row
                      -> squeezed to one space

``DefendedServer`` adds each of these to ``ChatServer`` by overriding one of
its public hooks, and calls the core for the rest: ``python -m chatroom.server``
runs it on the student's own core. ``defended(cls)`` does the same for a
variation of the core, such as a challenge's server.
"""

import ipaddress
import socket
import sys
import threading

from .flood import BURST_LINES, LINES_PER_SECOND, TokenBucket
from .protocol import squeeze_blanks
from .server import ChatServer

DEFAULT_MAX_PER_ADDRESS = 10  # connections from one address (IRC's "clone limit")
ANNOUNCE_UP_TO = 100  # joins and leaves are announced in a room of at most this many people
NOTICE_BURST, NOTICES_PER_SECOND = 6, 0.5  # join/leave notices one address may cause
KEEPALIVE = (60, 10, 5)  # probe a silent peer after 60 s, every 10 s; gone after 5 unanswered
MACOS_TCP_KEEPALIVE = 0x10  # <netinet/tcp.h> on macOS: the idle time before the first probe
SLOW_DOWN = ("* Slow down: at most {rate:g} lines a second after a burst of {burst}. "
             "Your lines are delayed, not lost.")


class DefendedServer(ChatServer):
    """A ``ChatServer`` that one person cannot spoil for everyone.

    ``max_per_address`` is how many connections one address may have;
    ``flood_limit`` is (burst, lines a second) for each address, or None for
    no limit; ``keepalive`` is (idle, interval, probes) in seconds, or None.
    Each override calls ``super()``, so a variation of the core keeps its own
    behaviour under the defences (see ``defended``).
    """

    def __init__(self, *args, max_per_address=DEFAULT_MAX_PER_ADDRESS,
                 flood_limit=(BURST_LINES, LINES_PER_SECOND), keepalive=KEEPALIVE, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_per_address = max_per_address
        self.flood_limit = flood_limit
        self.keepalive = keepalive
        self._allowances = {}  # address -> (lines' TokenBucket, notices' TokenBucket)
        self._allowances_lock = threading.Lock()

    def newcomer(self, sock, address):
        """Also have the OS probe the newcomer's connection when it falls silent."""
        member = super().newcomer(sock, address)
        if self.keepalive:
            keep_alive(member.sock, *self.keepalive)
        return member

    def turned_away(self, member):
        """Also turn away a newcomer from an address that has ``max_per_address``
        already, or any connection at all once the room is down to its last places.

        Those last places (a tenth of the room) are kept for addresses not here
        yet: one machine that opens idle connections over IPv4, IPv6 and loopback
        aliases cannot take them. (A machine that has a fresh address for each
        connection, as IPv6 privacy addresses allow, still looks new each time.)
        """
        if super().turned_away(member):
            return True
        key = address_key(member.address[0])
        members = self.room.members()
        here = sum(1 for other in members if address_key(other.address[0]) == key)
        if here >= self.max_per_address:
            why = (f"{self.max_per_address} people are connected from your address "
                   f"({member.address[0]}) already")
        elif here and self.room.max_members - len(members) <= self.room.max_members // 10:
            why = "the room's last places are kept for people who are not here yet"
        else:
            return False
        self.refuse(member, why)
        return True

    def read_line(self, member, raw):
        """Also squeeze runs of blanks, so padding cannot choose what starts a terminal's row."""
        text = super().read_line(member, raw)
        return squeeze_blanks(text) if text else text

    def handle_lines(self, member, raws):
        """Pass on lines only as fast as the sender's address is allowed ("fakelag").

        Lines beyond the allowance wait here, in the sender's own thread, which
        meanwhile reads nothing more from it: TCP's flow control slows the
        sender's machine too, and everyone else, served by threads of their
        own, never waits. The allowance belongs to the address, not to the
        connection, so reconnecting earns no fresh burst. Waiting lines are
        never dropped: when the server stops, they go out at once.
        """
        if not self.flood_limit:
            return super().handle_lines(member, raws)
        lines, _ = self._allowance(member)
        while raws:
            with self._allowances_lock:
                ready, wait = lines.take(len(raws)), lines.wait_time()
            if ready:
                if not super().handle_lines(member, raws[:ready]):
                    return False
                raws = raws[ready:]
            elif self.stopping.wait(wait):
                return super().handle_lines(member, raws)
            else:
                self._slow_down(member)
        return True

    def _slow_down(self, member):
        """Tell a member, the first time, that flood control holds its lines back."""
        if not getattr(member, "slowed", False):
            member.slowed = True
            burst, rate = self.flood_limit
            member.send_line(SLOW_DOWN.format(burst=burst, rate=rate))
            self.on_event(f"{member.name} is flooding: its lines are delayed")

    def announce(self, text, member):
        """Announce a join or leave only in a room of at most ANNOUNCE_UP_TO people, and
        only while the member's address has notices left.

        Each notice is a line to everyone: 1,000 people arriving at once cost
        500,000 sends, and one address that reconnects in a loop could send the
        room a notice per connection. /who still says who is here.
        """
        if len(self.room.others(member)) >= ANNOUNCE_UP_TO:
            return
        _, notices = self._allowance(member)
        with self._allowances_lock:
            allowed = notices.take(1)
        if allowed:
            super().announce(text, member)

    def _allowance(self, member):
        """The (lines, notices) buckets of ``member``'s address, made on first use."""
        key = address_key(member.address[0])
        with self._allowances_lock:
            if key not in self._allowances:
                burst, rate = self.flood_limit or (BURST_LINES, LINES_PER_SECOND)
                self._forget_rested()
                self._allowances[key] = (TokenBucket(burst, rate),
                                         TokenBucket(NOTICE_BURST, NOTICES_PER_SECOND))
            return self._allowances[key]

    def _forget_rested(self):
        """Forget the addresses whose buckets are full again: they would start full anyway."""
        for key, buckets in list(self._allowances.items()):
            if all(bucket.is_full() for bucket in buckets):
                del self._allowances[key]


def defended(server_class):
    """``server_class`` (a variation of ChatServer) with the defences of DefendedServer."""
    if issubclass(server_class, DefendedServer):
        return server_class
    return type(f"Defended{server_class.__name__}", (DefendedServer, server_class), {})


def address_key(host):
    """What counts as one address for ``max_per_address`` and flood control: the
    address itself, IPv6 ones included.

    Grouping IPv6 by /64, the network one home gets, would count a whole LAN as
    one address: every machine of a lab room, and every link-local client,
    shares one /64. The price: a machine with many IPv6 addresses (privacy
    addresses) gets ``max_per_address`` connections on each of them.
    """
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def keep_alive(sock, idle, interval, probes):
    """Have the OS probe a silent peer, so that a vanished machine is noticed.

    A machine that loses power or its network sends no FIN and no RST: without
    probes, a quiet connection to it stays open for ever. After ``idle``
    seconds of silence the OS sends a probe every ``interval`` seconds, and
    gives up after ``probes`` unanswered ones: the next recv fails.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    # Linux, Windows 10 (1709) and newer; macOS calls the idle time TCP_KEEPALIVE,
    # which Python 3.9's socket module does not name there: its value is 0x10.
    idle_option = getattr(socket, "TCP_KEEPIDLE", getattr(socket, "TCP_KEEPALIVE", None))
    if idle_option is None and sys.platform == "darwin":
        idle_option = MACOS_TCP_KEEPALIVE
    options = [(idle_option, idle), (getattr(socket, "TCP_KEEPINTVL", None), interval),
               (getattr(socket, "TCP_KEEPCNT", None), probes),
               # Linux: data that is never acknowledged counts too, not only silence.
               (getattr(socket, "TCP_USER_TIMEOUT", None), (idle + interval * probes) * 1000)]
    if idle_option is None and hasattr(socket, "SIO_KEEPALIVE_VALS"):  # older Windows
        sock.ioctl(socket.SIO_KEEPALIVE_VALS, (1, idle * 1000, interval * 1000))
    for option, value in options:
        if option is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, option, int(value))
            except OSError:
                pass  # an older system: its own, longer timers apply
