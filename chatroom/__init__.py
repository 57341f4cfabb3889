"""A chat room over TCP, built in the lessons of this kit.

    protocol   lines of UTF-8 text: LineBuffer, decode_line, clean_text, encode_line
    outbox     Outbox: sending that never blocks, with a bounded backlog
    room       Member and Room: who is here, behind a lock
    commands   /nick, /who, /help, /quit
    server     ChatServer: one thread per client         python -m chatroom.server
    client     run(): select over server and keyboard    python -m chatroom.client
    interop    two of your clients check a server         python -m chatroom.interop
    cli        command lines and their plain-English errors
    addresses  this machine's IP addresses

Use it from Python::

    from chatroom.server import ChatServer
    with ChatServer("127.0.0.1", 0, on_event=print) as server:
        host, port = server.address

The package imports nothing here, so that ``python -m chatroom.server``
runs the module once, as the program, and not a second time as a library.
"""
