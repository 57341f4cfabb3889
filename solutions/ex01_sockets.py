"""Exercise 1, for lesson 1 (sockets and ports): read until the peer closes.

Write the body of ``recv_until_closed``. Check your work with
    python tests/grade.py --student -k ex01
"""


def recv_until_closed(sock, limit=1 << 20):
    """Read from the connected socket ``sock`` until the peer closes it; return the bytes.

    ``sock.recv(n)`` returns whatever has arrived, at most ``n`` bytes, and
    ``b""`` once the peer has closed the connection: one call is not
    "everything", so keep calling it. Stop as soon as you hold ``limit``
    bytes, even if the peer has not closed: never return more than ``limit``.
    Let a ``socket.timeout`` from ``recv`` pass: it is the caller's to handle.

    Example: the peer sends b"hello, " and then b"world" and closes;
    ``recv_until_closed(sock)`` returns b"hello, world".
    """
    ### BEGIN SOLUTION
    chunks = []
    size = 0
    while size < limit:
        chunk = sock.recv(min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
    ### END SOLUTION
