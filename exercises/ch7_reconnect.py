"""Challenge 7: a client that comes back when the server goes away.

At the lab the server is restarted, the Wi-Fi drops for a moment, a laptop
sleeps, and every chat client ends: "* The server closed the connection."
Make a client that tries again, and comes back as who it was::

    * The server closed the connection.
    * Reconnecting in 0.5 s (try 1 of 5).
    * Reconnecting in 1 s (try 2 of 5).
    * Welcome to the chat room, 192.168.1.20! Type /help for commands.
    * you are now alice

What must hold:

- When the server has gone (it closed or reset the connection), the client
  shows what ``ChatClient`` shows (the server's unfinished last words, if
  any, then "* The server closed the connection."), then tries to connect
  again to the same ``address``, at most ``retries`` times.
- Before each try it says so in one line, ``* Reconnecting in D s (try N
  of R).`` (D written with ``:g``), then waits D seconds. The first wait
  is ``first_delay``; each next one is twice the one before, but never
  more than ``longest_delay``: exponential backoff, so that a class of
  clients does not hammer a server that is starting again, and a long
  outage costs a few tries, not hundreds.
- A try that fails (``connect`` raises OSError: refused, timed out) goes
  on to the next. A try that connects ends the outage: the chat goes on,
  on the new connection (``self.sock``; the old socket is closed), and a
  later outage starts again from ``first_delay``.
- After ``retries`` tries that failed, it says ``* Could not reconnect;
  giving up after R tries.`` and the chat is over.
- Back in the room, it takes back its name: if the server confirmed one
  ("* you are now NAME", its answer to /nick), the first line sent on the
  new connection is ``/nick NAME``. The name is the one the server
  confirmed last, not one that was typed: a /nick the server refused (the
  name is taken) changed nothing. With no name confirmed, nothing is sent.
- Nothing of the old connection leaks into the new: a line the old server
  left unfinished is shown once, and is not glued to the new one's first.
- Leaving is not an outage: after /quit or the end of input the client
  leaves as before, and does not come back.

Write ``from_server`` (ChatClient's, which also notes the name the server
confirms, and reconnects when the server has gone) and ``reconnect``.
Connect with ``chatroom.client.connect`` (exercise 7). Wait for the time
itself: ``time.sleep`` (the keyboard waits meanwhile; what is typed goes
once the client is back). ``chat`` and ``main`` are given.

Run it, then stop and start your server:
    python exercises/ch7_reconnect.py IP [PORT]
Check it:
    python tests/grade.py --student -k ch7
"""

import sys
import time

from chatroom import cli
from chatroom.client import ChatClient, connect, open_keyboard, receive, send_all, show_line
from chatroom.protocol import MAX_RELAYED_BYTES, LineBuffer, encode_line

RETRIES = 5
FIRST_DELAY = 0.5  # seconds before the first try
LONGEST_DELAY = 8.0  # seconds between two tries, at most
CONFIRMED = b"* you are now "  # the server's answer to a /nick it accepted


class ReconnectingClient(ChatClient):
    """The chat client, which connects again when the server goes away."""

    def __init__(self, sock, keys, screen, address, retries=RETRIES, first_delay=FIRST_DELAY,
                 longest_delay=LONGEST_DELAY):
        super().__init__(sock, keys, screen)
        self.address = address  # (host, port) to connect to again
        self.retries, self.first_delay, self.longest_delay = retries, first_delay, longest_delay
        self.name = None  # the name the server confirmed last

    def chat(self):
        """Step until the chat is over: /quit, the end of input, or a server that did not
        come back."""
        while self.step(self.wait_seconds()):
            pass

    def from_server(self):
        """Show every whole line the server sent, noting the name it confirms; when it has
        gone, reconnect. False once the chat is over: the server did not come back."""
        raise NotImplementedError("challenge 7: ReconnectingClient.from_server")

    def reconnect(self):
        """Connect again, with backoff, at most ``retries`` times, saying so before each try;
        back in the room, take back the name. True once connected, False on giving up."""
        raise NotImplementedError("challenge 7: ReconnectingClient.reconnect")


def main(argv=None):
    """The command line: ``python exercises/ch7_reconnect.py IP [PORT]``."""
    cli.require_pieces("client", ReconnectingClient)
    args = cli.client_arguments(argv)
    cli.forgive_unprintable_characters()
    try:
        sock = connect(args.ip, args.port)
    except OSError as error:
        cli.fail(cli.explain_connect_error(error, args.ip, args.port))
    print(f"* Connected to {args.ip} port {args.port}. Leave with /quit, Ctrl-D or Ctrl-C.",
          flush=True)
    keys = open_keyboard(sys.stdin)
    client = ReconnectingClient(sock, keys, sys.stdout, (args.ip, args.port))
    try:
        client.chat()
    except KeyboardInterrupt:
        print("\n* Bye.", flush=True)
    except OSError as error:
        cli.fail(f"lost the connection to the server: {error.strerror or error}")
    finally:
        client.sock.close()  # the last connection, whichever it is
        keys.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
