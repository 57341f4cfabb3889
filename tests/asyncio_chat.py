"""A minimal asyncio broadcast server with the chat room's wire behaviour.

It is the yardstick for ``tests/benchmark.py``: one event loop, no threads.
On the wire it behaves like ``chatroom.server`` for plain text: a welcome
line on connect, and every line a client sends goes to every other client
as ``<ip> text``. Framing is the package's own (``LineBuffer``, the same
2048-byte maximum line, the same decoding and cleaning), so both servers
do the same work per byte. No commands, no join notices, no room limit.

Like most minimal asyncio servers it writes with ``transport.write`` and
never waits for ``drain()``: a client that stops reading makes the
transport buffer grow without bound, which the benchmark measures.

Run it with ``python tests/asyncio_chat.py [IP] [PORT]``, or start it in a
background thread with ``AsyncioChat().start()`` and ``.stop()``.
"""

import asyncio
import logging
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from chatroom.cli import raise_open_file_limit  # noqa: E402
from chatroom.protocol import (LineBuffer, LineRejected, clean_text,  # noqa: E402
                               decode_line, encode_line)

log = logging.getLogger("asyncio_chat")
WELCOME = "* Welcome to the chat room, {name}! Type /help for commands."


class ChatProtocol(asyncio.Protocol):
    """One connected client: frame what it sends, and relay each line to the others."""

    def __init__(self, clients, on_event):
        self.clients = clients
        self.on_event = on_event
        self.lines = LineBuffer()
        self.transport = None
        self.name = "?"

    def connection_made(self, transport):
        self.transport = transport
        self.name = transport.get_extra_info("peername")[0]
        self.clients.add(self)
        transport.write(encode_line(WELCOME.format(name=self.name)))

    def connection_lost(self, exc):
        self.clients.discard(self)

    def data_received(self, data):
        for raw in self.lines.feed(data):
            try:
                text = clean_text(decode_line(raw))
            except LineRejected as problem:
                self.transport.write(encode_line(f"* {problem}"))
                continue
            if text.strip():
                self.on_event(f"<{self.name}> {text}")
                data = encode_line(f"<{self.name}> {text}")
                for client in list(self.clients):
                    if client is not self:
                        client.transport.write(data)  # no drain(): the buffer may grow


class AsyncioChat:
    """The asyncio server in a background thread with its own event loop."""

    def __init__(self, host="127.0.0.1", port=0, on_event=None):
        self.host, self.port = host, port
        self.on_event = on_event or log.info
        self.clients = set()
        self.loop = asyncio.new_event_loop()
        self._server = None
        self._thread = None
        self._ready = threading.Event()

    def start(self, timeout=5.0):
        """Listen and serve in a background thread; return the server once it listens."""
        self._thread = threading.Thread(target=self._run, name="asyncio-chat", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the asyncio server did not start")
        return self

    @property
    def address(self):
        """The (host, port) it listens on: the real port when started on 0."""
        return self._server.sockets[0].getsockname()[:2]

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(self.loop.create_server(
            lambda: ChatProtocol(self.clients, self.on_event), self.host, self.port,
            backlog=4096))
        self._ready.set()
        self.loop.run_forever()
        self._server.close()
        for client in list(self.clients):
            client.transport.abort()
        self.loop.run_until_complete(self._server.wait_closed())
        self.loop.close()

    def stop(self, timeout=1.0):
        """Stop the loop, close every connection, and end the thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def main(argv=None):
    """``python tests/asyncio_chat.py [IP] [PORT]``: serve until Ctrl-C."""
    args = sys.argv[1:] if argv is None else argv
    host = args[0] if args else "127.0.0.1"
    port = int(args[1]) if len(args) > 1 else 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stdout)
    raise_open_file_limit()  # as the threaded server does, for 1,000 clients
    server = AsyncioChat(host, port).start()
    host, port = server.address
    log.info(f"Chat server listening on {host} port {port}. Stop it with Ctrl-C.")
    try:
        while server._thread.is_alive():  # a timeout lets Ctrl-C in
            server._thread.join(0.25)
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
