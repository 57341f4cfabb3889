"""Who is in the chat room.

Every client thread reads and changes the list of members, so the list
lives behind one lock, and readers get a copy to loop over: a thread that
sends to everyone must not hold the lock while it sends.
"""

import re
import socket
import threading

from .outbox import MAX_BACKLOG_BYTES, Outbox
from .protocol import encode_line

NICKNAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,19}")
"""A nickname: a letter, then up to 19 letters, digits, '_' or '-'.

It cannot look like a default name, which is an IP address (a digit first,
or a ':' inside), so nobody can pass for someone who has not chosen a name.
"""

RESERVED = ("You",)
"""Names the official client uses itself: it shows your own lines as ``<You> ...``."""

LOOK_ALIKE_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"))
"""Pairs of letters that many fonts draw like one letter: rn and m, vv and w, cl and d."""

LOOK_ALIKE = str.maketrans("i1q5280", "llgszbo")
"""Letters that many fonts draw alike (after lowercasing): I (capital i), l and 1;
q and g; 5 and S; 2 and Z; 8 and B; O and 0. A small table of our own in the spirit
of Unicode's confusables (UTS #39), for the ASCII a nickname may hold."""


def skeleton(name):
    """What ``name`` looks like: names with the same skeleton are easy to mistake
    for each other, such as ``alice``, ``aIice`` (a capital i) and ``ALICE``,
    ``martin`` and ``rnartin``, ``bob`` and ``bob_``."""
    shape = name.lower().translate(LOOK_ALIKE)  # first, so that cIara is clara, then dara
    for pair, letter in LOOK_ALIKE_PAIRS:
        shape = shape.replace(pair, letter)
    return shape.rstrip("_-")


class Member:
    """One connected client: its socket, its address and the name others see."""

    def __init__(self, sock, address, max_backlog=MAX_BACKLOG_BYTES, name=None):
        self.sock = sock
        self.address = address
        self.name = name or address[0]
        self.outbox = Outbox(sock, max_backlog)

    def send_line(self, text):
        """Queue one line for this client; False if it is gone or not keeping up."""
        return self.outbox.send(encode_line(text))

    def hang_up(self):
        """Shut the connection down, which wakes the thread serving it."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the other side


class Room:
    """The members of the chat room, safe to use from many threads."""

    def __init__(self, max_members):
        self.max_members = max_members
        self._members = []
        self._lock = threading.Lock()

    def join(self, member):
        """Add a member and return True; return False, and add no one, when the room is full."""
        ### BEGIN SOLUTION
        with self._lock:
            if len(self._members) >= self.max_members:
                return False
            self._members.append(member)
            return True
        ### END SOLUTION

    def is_full(self):
        """True when no one else may join."""
        ### BEGIN SOLUTION
        with self._lock:
            return len(self._members) >= self.max_members
        ### END SOLUTION

    def leave(self, member):
        """Remove a member, if it is still here; leaving twice is not an error."""
        ### BEGIN SOLUTION
        with self._lock:
            if member in self._members:
                self._members.remove(member)
        ### END SOLUTION

    def members(self):
        """A copy of the member list, in the order they joined, safe to loop over
        while other threads join and leave."""
        ### BEGIN SOLUTION
        with self._lock:
            return list(self._members)
        ### END SOLUTION

    def others(self, member):
        """Everyone but ``member`` (a copy, like ``members``); everyone for None."""
        ### BEGIN SOLUTION
        return [other for other in self.members() if other is not member]
        ### END SOLUTION

    def rename(self, member, name):
        """Give ``member`` a new name; return why not, or None when done.

        A name that looks like another member's, or like a reserved name, is
        taken: ``aIice`` (a capital i) beside ``alice``, ``Y0U`` for ``You``.
        """
        if not NICKNAME.fullmatch(name):
            return "a nickname is a letter, then up to 19 letters, digits, '_' or '-'"
        wanted = skeleton(name)
        with self._lock:
            for other in self._members:
                if other is not member and skeleton(other.name) == wanted:
                    return f"the nickname {name} is taken: it looks like {other.name}"
            for reserved in RESERVED:
                if skeleton(reserved) == wanted:
                    return f"the nickname {name} is reserved: it looks like {reserved}"
            member.name = name
        return None

    def default_name(self, host):
        """The name of a newcomer from ``host``: its IP address, and "#2", "#3"...
        when others from the same address are here, so that they can be told apart."""
        ### BEGIN SOLUTION
        with self._lock:
            names = {other.name for other in self._members}
        for number in range(1, len(names) + 2):
            name = host if number == 1 else f"{host}#{number}"
            if name not in names:
                return name
        ### END SOLUTION
