"""The chat room on one asyncio event loop: a coroutine for each client, not a thread.

A variation of ChatServer: it keeps the work on each line (handle_lines, broadcast_lines,
farewell...) and replaces the threads. Run as a script, it takes the chat server's
command line: python asyncio_chat.py [IP] [PORT] [OPTIONS]
"""

import asyncio
import concurrent.futures
import socket
import sys

from chatroom.protocol import LineBuffer, encode_line
from chatroom.server import (GOODBYE, RECV_BYTES, WELCOME, ChatServer, main,
                             open_listener, plain_host)


class StreamOutbox:
    """A member's outbox on an asyncio stream: the transport's buffer is the backlog."""

    def __init__(self, writer, max_backlog):
        self.writer = writer
        self.max_backlog = max_backlog
        self.overflowed = False

    def send(self, data):
        """Write what the kernel takes now, buffer the rest, never wait; False once dropped."""
        if self.overflowed or self.writer.is_closing():
            return False
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > self.max_backlog:
            self.overflowed = True  # lesson 5's rule: 256 KiB behind, and it is dropped
        return not self.overflowed


class StreamMember:
    """One client of the asyncio server, with what ChatServer's code uses of a Member."""

    def __init__(self, writer, address, max_backlog, name):
        self.writer = writer
        self.address = address
        self.name = name
        self.outbox = StreamOutbox(writer, max_backlog)

    @property
    def sock(self):
        """What ChatServer closes when the member leaves: here, the stream."""
        return self.writer

    def send_line(self, text):
        return self.outbox.send(encode_line(text))

    def hang_up(self):
        """Close the connection: at once for a reader too far behind, else after what waits."""
        if self.outbox.overflowed:
            self.writer.transport.abort()
        else:
            self.writer.close()


class AsyncioChatServer(ChatServer):
    """The chat room on one event loop, which runs in a thread of its own."""

    def newcomer(self, writer, address):
        """A StreamMember for a connection just accepted, named as ChatServer names people."""
        # Nagle's algorithm off, as ChatServer does: asyncio turns it off only on sockets it
        # made itself, and this listener comes from open_listener.
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        host = plain_host(address[0])
        return StreamMember(writer, (host, address[1]), self.max_backlog,
                            self.room.default_name(host))

    def start(self):
        """Listen, then run the event loop in a thread of its own; return the server."""
        self.loop = asyncio.new_event_loop()
        self.listening = self.loop.run_until_complete(asyncio.start_server(
            self.serve_client, sock=open_listener(self.host, self.port),
            backlog=socket.SOMAXCONN))
        self.loop_thread = self.spawn(self.loop.run_forever, "chatroom-asyncio")
        return self

    @property
    def address(self):
        return self.listening.sockets[0].getsockname()[:2]

    async def serve_client(self, reader, writer):
        """One client, from its arrival to its farewell: asyncio runs this in a task of its own."""
        member = self.newcomer(writer, writer.get_extra_info("peername"))
        if self.turned_away(member):
            return
        member.send_line(WELCOME.format(name=member.name))  # before anyone's line can reach it
        self.room.join(member)  # it has a place: no other task ran since turned_away looked
        self.on_event(f"{member.name} connected")
        self.announce(f"* {member.name} joined", member)
        try:
            await self.relay(reader, member)
        except OSError:
            pass  # reset by the peer, or aborted as a reader too far behind
        finally:
            self.farewell(member)

    async def relay(self, reader, member):
        """Act on the complete lines of each chunk the member sends, until it leaves."""
        lines = LineBuffer()
        while not self.stopping.is_set():
            data = await reader.read(RECV_BYTES)
            if not data or not self.handle_lines(member, lines.feed(data)):
                return
            await member.writer.drain()  # waits while this member's own backlog is large

    def stop(self, timeout=1.0):
        """Say goodbye to everyone, close every connection, and end the loop's thread."""
        self.stopping.set()
        loop = getattr(self, "loop", None)
        if loop is None or loop.is_closed():
            return  # not started, or stopped already
        closing = asyncio.run_coroutine_threadsafe(self.close(timeout), loop)
        try:
            closing.result(timeout + 1)
        except concurrent.futures.TimeoutError:
            pass  # end the loop all the same
        loop.call_soon_threadsafe(loop.stop)
        self.loop_thread.join(timeout)
        if not self.loop_thread.is_alive():
            loop.close()

    async def close(self, timeout):
        """In the loop: stop listening, say goodbye to everyone, wait for each client's task."""
        self.listening.close()
        for member in self.room.members():
            member.send_line(GOODBYE)
            member.hang_up()  # what is queued goes out first, then the connection closes
        clients = asyncio.all_tasks() - {asyncio.current_task()}
        if clients:
            await asyncio.wait(clients, timeout=timeout)


if __name__ == "__main__":
    # No defences: their flood control waits in the sender's thread, and this one must never wait.
    sys.exit(main(server_class=AsyncioChatServer, defences=False))
