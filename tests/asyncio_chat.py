"""The chat room as an asyncio server: one event loop, one coroutine per client.

It is one of the three designs ``tests/benchmark.py`` compares, written as
an experienced asyncio programmer would, on the same terms as
``chatroom.server`` (one thread per client):

- the same wire behaviour: a welcome line, ``* NAME joined`` and
  ``* NAME left`` for the others (in a room of at most 100 people:
  ``chatroom.server.ANNOUNCE_UP_TO``), every chat line relayed to every other
  client as ``<NAME> text``, the same commands (``chatroom.commands``), the
  same room limit (``chatroom.room.Room``) and the package's framing,
  decoding and cleaning of lines (``chatroom.protocol``);
- the same batching: it reads in chunks, and the chat lines of one read go
  to each reader in one write;
- the same slow-reader rule: a write never waits. ``transport.write`` sends
  what the kernel takes now and buffers the rest; a reader with more than
  256 KiB waiting in that buffer is dropped, so one slow reader cannot stall
  or bloat the room. Each client's own coroutine awaits ``drain()`` on its
  own writer after each read, so a client that stops reading is not read
  from either (TCP flow control) until it catches up or is dropped;
- the same logging: every chat line, and every arrival and departure, is
  logged at INFO to stdout.

Run it with ``python tests/asyncio_chat.py [IP] [PORT] [--max-clients N]``,
or start it in a background thread with ``AsyncioChat().start()`` and ``.stop()``.
"""

import asyncio
import logging
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from chatroom import cli  # noqa: E402
from chatroom.commands import run_command  # noqa: E402
from chatroom.outbox import MAX_BACKLOG_BYTES  # noqa: E402
from chatroom.protocol import (LineBuffer, LineRejected, clean_text,  # noqa: E402
                               decode_line, encode_line)
from chatroom.room import Room  # noqa: E402
from chatroom.server import (ANNOUNCE_UP_TO, DEFAULT_MAX_CLIENTS, GOODBYE,  # noqa: E402
                             RECV_BYTES, WELCOME)

log = logging.getLogger("asyncio_chat")


class Member:
    """One connected client: its stream writer and the name others see."""

    def __init__(self, writer, max_backlog):
        self.writer = writer
        self.address = writer.get_extra_info("peername")
        self.name = self.address[0]
        self.max_backlog = max_backlog
        self.overflowed = False

    def send(self, data):
        """Write now what the kernel takes, buffer the rest; False once the member is dropped."""
        if self.writer.is_closing():
            return False
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > self.max_backlog:
            self.overflowed = True
            self.hang_up()
            return False
        return True

    def send_line(self, text):
        return self.send(encode_line(text))

    def hang_up(self):
        """Close at once, dropping what is buffered; the member's coroutine then ends."""
        self.writer.transport.abort()


class AsyncioChatServer:
    """The chat room on one event loop; ``serve`` runs it inside a running loop."""

    def __init__(self, host="127.0.0.1", port=0, *, max_clients=DEFAULT_MAX_CLIENTS,
                 max_backlog=MAX_BACKLOG_BYTES, on_event=None):
        self.host, self.port = host, port
        self.room = Room(max_clients)
        self.max_backlog = max_backlog
        self.on_event = on_event or log.info
        self.server = None
        self.stopping = False
        self.tasks = set()

    async def listen(self):
        self.server = await asyncio.start_server(self.serve_client, self.host, self.port,
                                                 backlog=4096)
        return self.server.sockets[0].getsockname()[:2]

    async def serve_client(self, reader, writer):
        """Serve one client until it leaves (``start_server`` runs this in a task of its own)."""
        task = asyncio.current_task()
        self.tasks.add(task)
        try:
            member = Member(writer, self.max_backlog)
            if self.admit(member):
                await self.serve_member(reader, member)
        finally:
            self.tasks.discard(task)

    def admit(self, member):
        """Welcome a member into the room, or turn it away when the room is full."""
        if self.room.is_full():
            member.send_line(f"* Sorry, the room is full ({self.room.max_members} people). "
                             "Try again later.")
            member.writer.close()
            self.on_event(f"{member.name} turned away: the room is full")
            return False
        # The welcome goes out before the member is in the room, where others' lines reach it.
        member.send_line(WELCOME.format(name=member.name))
        self.room.join(member)
        return True

    async def serve_member(self, reader, member):
        """Announce the member, then act on each read until it leaves."""
        self.on_event(f"{member.name} connected")
        self.announce(f"* {member.name} joined", member)
        try:
            await self.relay(reader, member)
        except (ConnectionError, OSError):
            pass  # reset by the peer, or aborted as a slow reader
        finally:
            self.farewell(member)

    async def relay(self, reader, member):
        lines = LineBuffer()
        while not self.stopping:
            data = await reader.read(RECV_BYTES)
            if not data or not self.handle_lines(member, lines.feed(data)):
                return
            await member.writer.drain()  # stop reading from a client that does not read

    def handle_lines(self, member, raws):
        """Act on the lines of one read; return False when the member leaves."""
        relay = []
        for raw in raws:
            text = self.read_line(member, raw)
            if text is None or not text.strip():
                continue
            if text.startswith("/"):
                self.broadcast_lines(relay, member)  # what came before goes first
                relay = []
                if not run_command(self, member, text):
                    return False
            else:
                self.on_event(f"<{member.name}> {text}")
                relay.append(f"<{member.name}> {text}")
        self.broadcast_lines(relay, member)
        return True

    def read_line(self, member, raw):
        try:
            return clean_text(decode_line(raw))
        except LineRejected as problem:
            member.send_line(f"* {problem}")
            self.on_event(f"{member.name}: {problem}")
            return None

    def announce(self, text, member):
        """Tell the others that ``member`` joined or left, in a room of at most ANNOUNCE_UP_TO."""
        if len(self.room.others(member)) < ANNOUNCE_UP_TO:
            self.broadcast(text, member)

    def broadcast(self, text, sender=None):
        self.broadcast_lines([text], sender)

    def broadcast_lines(self, texts, sender=None):
        """Write the lines to every member but ``sender``, in one write to each."""
        if not texts:
            return
        data = b"".join(encode_line(text) for text in texts)
        for member in self.room.others(sender):
            member.send(data)

    def farewell(self, member):
        self.room.leave(member)
        member.writer.close()
        if member.overflowed:
            self.on_event(f"{member.name} dropped: it stopped reading "
                          f"(over {self.max_backlog} bytes waiting)")
        else:
            self.on_event(f"{member.name} disconnected")
        if not self.stopping:
            self.announce(f"* {member.name} left", member)

    async def close(self, timeout=1.0):
        """Say goodbye to everyone, close every connection and stop listening."""
        self.stopping = True
        self.server.close()
        for member in self.room.members():
            member.send_line(GOODBYE)
            member.writer.close()
        if self.tasks:  # each ends when its connection is closed
            await asyncio.wait(list(self.tasks), timeout=timeout)
        await self.server.wait_closed()


class AsyncioChat:
    """The asyncio server in a background thread with its own event loop."""

    def __init__(self, host="127.0.0.1", port=0, **options):
        self.chat = AsyncioChatServer(host, port, **options)
        self.loop = asyncio.new_event_loop()
        self.address = None
        self._thread = None

    def start(self, timeout=5.0):
        """Listen, and serve in a background thread; return the server once it listens."""
        self.address = self.loop.run_until_complete(
            asyncio.wait_for(self.chat.listen(), timeout))
        self._thread = threading.Thread(target=self.loop.run_forever, name="asyncio-chat",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout=1.0):
        """Close every connection, stop the loop and end the thread."""
        future = asyncio.run_coroutine_threadsafe(self.chat.close(), self.loop)
        try:
            future.result(timeout)
        except Exception:  # noqa: BLE001 - stopping anyway
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


async def serve(args):
    """Serve until SIGINT or SIGTERM (or Ctrl-C where signals cannot be caught so)."""
    chat = AsyncioChatServer(args.host, args.port, max_clients=args.max_clients)
    for line in cli.where_to_connect(*await chat.listen()):
        log.info(line)
    stop = asyncio.Event()
    for name in ("SIGINT", "SIGTERM"):
        try:
            asyncio.get_running_loop().add_signal_handler(getattr(signal, name), stop.set)
        except (NotImplementedError, AttributeError):  # Windows
            pass
    try:
        await stop.wait()
    finally:
        await chat.close()


def main(argv=None):
    """The same command line as ``python -m chatroom.server``."""
    args = cli.server_arguments(argv)
    cli.forgive_unprintable_characters()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stdout)
    cli.raise_open_file_limit()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    log.info("Server stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
