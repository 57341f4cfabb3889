"""Sending without waiting: a bounded backlog in front of a non-blocking socket.

A blocking ``send`` to a client that has stopped reading waits until that
client reads again, and with it waits everyone who is broadcasting. Here a
send writes what the kernel accepts at once and keeps the rest in a backlog.
The backlog is bounded: a client that lets it overflow is not keeping up,
and the server drops it instead of buffering without end.
"""

import select
import threading

MAX_BACKLOG_BYTES = 256 * 1024
"""How much unsent data one client may have queued before it is dropped."""


class Outbox:
    """The sending side of one client's socket; any thread may call ``send``."""

    def __init__(self, sock, max_backlog=MAX_BACKLOG_BYTES):
        sock.setblocking(False)
        self.sock = sock
        self.max_backlog = max_backlog
        self._backlog = bytearray()
        self._lock = threading.Lock()
        self.broken = False
        self.overflowed = False

    def send(self, data):
        """Queue ``data`` and write what the socket takes now; never wait.

        Returns False, and queues nothing, once the client is broken. When
        more than ``max_backlog`` bytes are left waiting, the client is not
        keeping up: mark it ``broken`` and ``overflowed``, and return False.
        The backlog is kept as it is then (the bytes that overflowed it
        included), so it can be measured; nothing more is ever added.
        """
        ### BEGIN SOLUTION
        with self._lock:
            if self.broken:
                return False
            self._backlog += data
            self.write_now()
            if len(self._backlog) > self.max_backlog:
                self.broken = self.overflowed = True
            return not self.broken
        ### END SOLUTION

    def flush(self):
        """Write what the socket takes now of the backlog; any thread may call it."""
        ### BEGIN SOLUTION
        with self._lock:
            self.write_now()
        ### END SOLUTION

    def has_backlog(self):
        """True while some queued data has not reached the kernel yet."""
        ### BEGIN SOLUTION
        return bool(self._backlog)
        ### END SOLUTION

    def write_now(self):
        """Send from the backlog what the kernel takes now, and keep the rest.

        The caller holds the lock. A full kernel buffer (BlockingIOError) ends
        the writing for now; any other OSError means the client has gone: mark
        it ``broken`` and forget its backlog.
        """
        ### BEGIN SOLUTION
        while self._backlog and not self.broken:
            try:
                sent = self.sock.send(self._backlog)
            except BlockingIOError:
                return  # the kernel's buffer is full; the rest waits
            except OSError:
                self.broken = True  # reset or closed: nothing more will go out
                self._backlog.clear()
                return
            del self._backlog[:sent]
        ### END SOLUTION


def wait_for_socket(sock, timeout, writing=False, reading=True):
    """Wait until ``sock`` can be read (if ``reading``), or written (if ``writing``).

    Returns ``(readable, writable)``; a connection that broke counts as
    readable. ``poll`` has no limit on descriptor numbers, unlike ``select``
    (1024 on Linux); Windows has only ``select``, where the limit is on the
    number of sockets, not their numbers.
    """
    ### BEGIN SOLUTION
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, (select.POLLIN if reading else 0) |
                        (select.POLLOUT if writing else 0))
        events = 0
        for _fd, flags in poller.poll(timeout * 1000):
            events |= flags
        closed = select.POLLHUP | select.POLLERR | select.POLLNVAL
        readable = bool(events & (select.POLLIN | closed))
        return readable, bool(events & select.POLLOUT)
    readable, writable, failed = select.select([sock] if reading else [],
                                               [sock] if writing else [], [sock], timeout)
    return bool(readable or failed), bool(writable)
    ### END SOLUTION
