"""Exercise 4, for lesson 4 (the client): the routing step of the select loop.

Write the body of ``route``. Check your work with
    python tests/grade.py --student -k ex04
"""


def route(ready, server, keyboard, screen):
    """Act on what ``select`` found ready; return False when the chat is over.

    - ``ready`` is the list of ready objects that ``select`` returned;
    - ``server`` is the socket connected to the chat server;
    - ``keyboard`` is a text stream with ``readline()`` (``sys.stdin``, a pipe,
      an ``io.StringIO``), where the user's lines come from;
    - ``screen`` is a text stream with ``write()`` (``sys.stdout``, ``io.StringIO``).

    If ``server`` is in ``ready``: ``recv`` from it (up to 4096 bytes). ``b""``
    means the server has gone: return False. Otherwise write what came,
    decoded from UTF-8 (``errors="replace"``), to ``screen``.

    If ``keyboard`` is in ``ready``: read one line. ``""`` means the input has
    ended (Ctrl-D): return False. Otherwise send the line to the server,
    UTF-8 encoded and ending in one newline, and write it to ``screen`` as
    ``"<You> "`` followed by the line, ending in one newline. If the line is
    ``/quit``, return False once it has been sent.

    Handle the server first when both are ready. Return True while the chat goes on.
    """
    ### BEGIN SOLUTION
    if server in ready:
        data = server.recv(4096)
        if not data:
            return False
        screen.write(data.decode("utf-8", errors="replace"))
    if keyboard in ready:
        line = keyboard.readline()
        if not line:
            return False
        text = line.rstrip("\r\n")
        server.sendall(text.encode("utf-8") + b"\n")
        screen.write(f"<You> {text}\n")
        if text == "/quit":
            return False
    return True
    ### END SOLUTION
