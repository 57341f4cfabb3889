"""Challenge 2: long lines, sent in pieces instead of refused.

The chat's framing (lesson 2) has a limit: a line is at most
MAX_LINE_BYTES (2048) bytes, and the client refuses to send a longer one
("* That line is over 2048 bytes; not sent."). Paste a paragraph and it is
lost. Make a client that sends it all, as several lines, each within the
limit, and echoes each as ``<You> ...``::

    <You> Lorem ipsum dolor sit amet, ... (2048 bytes or a little less)
    <You> consectetur adipiscing elit, ...
    <You> ... the rest.

``split_line(text, limit)`` cuts a line of text into pieces of at most
``limit`` bytes of UTF-8 each (``limit`` is at least 4, the longest
character's bytes). A text that fits is one piece, itself; an empty text
is no piece at all. A longer one is cut in two, and the rest is cut the
same way. Where to cut:

- at a space, where it can be: the piece ends before the space, the rest
  begins after it (the space goes with neither: each piece is shown as a
  line of its own);
- else inside a word (a long link, a language written without spaces),
  between two characters: a character's bytes are never split, so every
  piece is valid UTF-8;
- never where the rest would begin with "/": the server would take that
  line for a command, and the words would be lost. So a space before a
  "/" is no place to cut, nor is the place just before a "/";
- of the allowed cuts, the last one that keeps the piece within
  ``limit``: at a space if there is one, else inside a word. (Should the
  first ``limit`` bytes after the first character hold nothing but "/"
  and spaces, cut after the last whole character that fits.)

So the pieces, put back together with a space where the cut was at a
space, are the text.

The text comes cleaned, as the client sends it (``clean_text`` and
``squeeze_blanks``: no control characters, single spaces, none at either
end), so no piece is empty, and none starts or ends with a space.

``LongLinesClient`` is the chat client with this one change. Its keyboard
``LineBuffer`` takes lines up to MAX_TYPED_BYTES (a pasted page); a line
longer than even that is refused as before, in one line that says so and
sends nothing. ``send_long`` sends one typed line: cleaned as
``send_typed`` cleans it, then split, each piece sent and echoed by
``send_typed``. A command (a line that starts with "/") is never split:
the rest of a ``/msg`` must not become a line to everyone, so a command
over the limit is refused as before. ``from_keyboard`` is ChatClient's,
with ``send_long`` for each line and the end of the chat as before (/quit,
the end of input).

Run it against your chat room, and paste a long paragraph:
    python exercises/ch2_long_lines.py IP [PORT]
Check it:
    python tests/grade.py --student -k ch2
"""

import sys

from chatroom import cli
from chatroom.client import ChatClient, connect, leave, open_keyboard, send_typed
from chatroom.protocol import MAX_LINE_BYTES, LineBuffer, clean_text, squeeze_blanks

MAX_TYPED_BYTES = 64 * 1024
"""The longest line that can be typed or pasted: sent in pieces of MAX_LINE_BYTES."""


def split_line(text, limit=MAX_LINE_BYTES):
    """The pieces of ``text``, each at most ``limit`` bytes of UTF-8, cut between words
    where it can be and between characters where it must."""
    raise NotImplementedError("challenge 2: split_line")


def cut(text, limit):
    """(the first piece, the rest) of a ``text`` longer than ``limit`` bytes."""
    raise NotImplementedError("challenge 2: cut")


class LongLinesClient(ChatClient):
    """The chat client, which sends a long line as several lines instead of refusing it."""

    def __init__(self, sock, keys, screen):
        super().__init__(sock, keys, screen)
        self.typed = LineBuffer(MAX_TYPED_BYTES)

    def from_keyboard(self):
        """Send every whole line typed, long ones in pieces; False after /quit or at the
        end of input."""
        raise NotImplementedError("challenge 2: LongLinesClient.from_keyboard")

    def send_long(self, raw):
        """Send one typed line (bytes; None when over MAX_TYPED_BYTES), in as many lines as
        it takes, each echoed; False after /quit."""
        raise NotImplementedError("challenge 2: LongLinesClient.send_long")


def main(argv=None):
    """The command line: ``python exercises/ch2_long_lines.py IP [PORT]``."""
    cli.require_pieces("client", LongLinesClient)
    args = cli.client_arguments(argv)
    cli.forgive_unprintable_characters()
    try:
        sock = connect(args.ip, args.port)
    except OSError as error:
        cli.fail(cli.explain_connect_error(error, args.ip, args.port))
    with sock:
        print(f"* Connected to {args.ip} port {args.port}. Leave with /quit, Ctrl-D or Ctrl-C.",
              flush=True)
        keys = open_keyboard(sys.stdin)
        chat = LongLinesClient(sock, keys, sys.stdout)
        try:
            while chat.step(chat.wait_seconds()):
                pass
        except KeyboardInterrupt:
            print("\n* Bye.", flush=True)
        except OSError as error:
            cli.fail(f"lost the connection to the server: {error.strerror or error}")
        finally:
            keys.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
