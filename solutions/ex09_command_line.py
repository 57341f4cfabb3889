"""Exercise 9, for lesson 9 (the lab): read the client's command line.

Write the bodies of ``parse_port`` and ``parse_address``. Check your work with
    python tests/grade.py --student -k ex09
"""

DEFAULT_PORT = 5050
USAGE = "usage: python -m chatroom.client IP [PORT]"


def parse_port(text):
    """The port number written in ``text``, or ValueError.

    A port is a whole number from 1 to 65535, written with the digits 0 to 9
    only ("5050"; not "50.5", "-1", " 80" or "fifty"). The ValueError's message
    must name what was wrong, with the text itself, for example:
    "the port must be a whole number from 1 to 65535, not 'fifty'".
    """
    ### BEGIN SOLUTION
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise ValueError(f"the port must be a whole number from 1 to 65535, not {text!r}")
    return int(text)
    ### END SOLUTION


def parse_address(argv):
    """``(host, port)`` from the arguments ``argv`` (a list of strings), or ValueError.

    ``argv`` is ``[IP]`` or ``[IP, PORT]``; without a port, the port is
    DEFAULT_PORT. Any other number of arguments, or an empty IP, is a
    ValueError whose message is USAGE. A bad port is parse_port's ValueError.
    """
    ### BEGIN SOLUTION
    if len(argv) not in (1, 2) or not argv[0].strip():
        raise ValueError(USAGE)
    port = parse_port(argv[1]) if len(argv) == 2 else DEFAULT_PORT
    return argv[0], port
    ### END SOLUTION
