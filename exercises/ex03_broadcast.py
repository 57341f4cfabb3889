"""Exercise 3, for lesson 3 (the server): a broadcast that survives a dead client.

Write the body of ``broadcast``. Check your work with
    python tests/grade.py --student -k ex03
"""


def broadcast(message, sender, clients):
    """Send ``message`` (bytes) to every socket in ``clients`` except ``sender``.

    A client whose send fails with an ``OSError`` has gone: close its socket,
    remove it from ``clients`` (the list you were given), and go on with
    the others; one failure must not stop anyone else from getting the
    message. Do not encode anything: ``message`` is bytes already.
    Return the list of the clients you dropped, in the order you met them.

    Loop over a copy of ``clients`` if you remove from it while you loop.
    """
    raise NotImplementedError("broadcast(): yours to write")
