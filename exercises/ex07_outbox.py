"""Exercise 7, for lesson 7 (slow clients): a send that a slow reader cannot block.

Write the bodies of ``send`` and ``flush``. Check your work with
    python tests/grade.py --student -k ex07
"""


class Outbox:
    """The sending side of one client's socket, with a bounded backlog.

    ``self.backlog`` holds what the socket could not take yet; ``self.broken``
    becomes True, for good, once the client is gone or too far behind.
    """

    def __init__(self, sock, max_backlog=256 * 1024):
        sock.setblocking(False)  # send() now takes what fits, or raises BlockingIOError
        self.sock = sock
        self.max_backlog = max_backlog
        self.backlog = bytearray()
        self.broken = False

    def send(self, data):
        """Queue ``data``, write what the socket takes now, and never wait.

        Add ``data`` to the backlog, then write from the backlog (see ``flush``).
        If more than ``max_backlog`` bytes are still waiting afterwards, the
        client is not keeping up: mark the outbox broken. Return False if the
        outbox is broken (now or before; a broken outbox sends nothing more),
        True otherwise.
        """
        raise NotImplementedError("send(): yours to write")

    def flush(self):
        """Write as much of the backlog as the socket takes now, without waiting.

        ``self.sock.send(...)`` returns how many bytes it took; remove those from
        the front of the backlog and try again, until the backlog is empty or
        ``send`` raises ``BlockingIOError`` (the socket's buffer is full: stop
        for now). Any other ``OSError`` means the client has gone: mark the
        outbox broken and drop the backlog.
        """
        raise NotImplementedError("flush(): yours to write")
