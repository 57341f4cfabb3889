"""Hints for a student who is stuck on an exercise, a step at a time.

    python tests/grade.py --student -k ex06 --hint 1     # then --hint 2, --hint 3
    check("ex06", hint=1)                                # the same, in a lesson

Each hint is a nudge: which helper to use, which edge case bites, what to try in a
cell to see it. None gives the answer away: the checks say what must hold, the
docstring of the piece says why, and the code is yours.
"""

import textwrap

HINTS = {
    "ex01": (
        "parse_port: int() is too forgiving for a port. Try int(' 80'), int('+80') and "
        "int('٥٠') in a cell: all three give a number. cli.py already has a small helper that "
        "says whether a text is a whole number in ASCII digits; use it before int().",
        "The message repeats what was given with repr() ({text!r} in an f-string), so that an "
        "empty text or a stray space shows. The lowest port is 0 only when allow_zero is True: "
        "the message names the range that applies.",
        "resolve: socket.getaddrinfo answers with a list of 5-tuples, the address last. A name "
        "that does not exist raises socket.gaierror, and one that is not a valid name at all "
        "('bad..name') raises UnicodeError: both deserve the same one-line UsageError.",
    ),
    "ex02": (
        "feed: a line may have begun two or three calls ago, so look for b'\\n' in everything "
        "you hold, not only in the new data. Try lines.feed(b'hel'), then lines.feed(b'lo\\n"
        "wor'), then lines.feed(b'ld\\n') in a cell, and print what each returns.",
        "A line over max_bytes: look at what is still unfinished after taking out the whole "
        "lines. Once it is too long, let it go at once (the endless-line check measures your "
        "memory), give None once, and remember that the rest of that line, up to its b'\\n', "
        "is to be dropped too.",
        "decode_line: bytes.decode raises UnicodeDecodeError on bytes that are not UTF-8; the "
        "sender should get the LineRejected notice written in the docstring instead (a None "
        "line has its own notice). encode_line goes the other way, and frames the line.",
    ),
    "ex03": (
        "Every method that reads or changes the member list does it while holding self._lock. "
        "A check and the change it decides (is there room? then add) go under the same lock: "
        "otherwise two threads both see room for one more.",
        "members() and others() hand out a new list each time, never the room's own: the "
        "caller loops over it while people join and leave. others(member) leaves out that very "
        "object (compare with `is`); others(None) is everyone.",
        "default_name: counting the people from that address is not enough. With h and h#3 in "
        "the room, a count gives h#3 again. Look for the first of h, h#2, h#3 ... that nobody "
        "here has.",
    ),
    "ex04": (
        "Remove whole escape sequences first, single control characters after: drop ESC alone "
        "first and '[31m' stays behind on the screen. One regular expression per kind of "
        "sequence keeps it readable; test each on the examples of the docstring.",
        "A CSI sequence is ESC [, then parameters ('0' to '?'), then intermediates (' ' to "
        "'/'), then one final byte ('@' to '~'). Print repr(clean_text('a\\x1b[1;31;4 qb')): it "
        "should be 'ab'. An OSC may end with BEL, with ESC \\, or not at all.",
        "A tab is a control character too: turn it into a space before control characters go. "
        "For the invisible ones, unicodedata.category(char) is 'Cf' for every format character "
        "(tags, zero-width, bidi marks); combining accents and emoji modifiers are other "
        "categories, and visible: they stay.",
    ),
    "ex05": (
        "On a non-blocking socket, sock.send returns how many bytes the kernel took, maybe "
        "fewer than you gave, and raises BlockingIOError when it takes none. write_now keeps "
        "what was not taken at the front of the backlog, for the next try.",
        "send decides about overflow after writing what the kernel takes now: only what is "
        "still waiting counts against max_backlog. Any OSError other than BlockingIOError means "
        "the client has gone: broken, but not overflowed. Once broken, send returns False at "
        "once.",
        "flush may run in a member's own thread while another thread sends to it: whatever "
        "protects the backlog in send protects it in flush too. wait_for_socket: select.poll() "
        "counts in milliseconds, and POLLHUP, POLLERR and POLLNVAL mean readable (a recv then "
        "says what broke).",
    ),
    "ex06": (
        "Write the pieces in the order a connection meets them (start, accept_loop, admit, "
        "serve, handle) and try each with nc or the kit's client. A piece that raises in a "
        "server thread shows only as silence: run the server with on_event=print, or in a "
        "terminal, to see the traceback; check('ex06') names the piece most likely at fault.",
        "handle: one LineBuffer per member, made once, not per recv (a line comes in pieces). "
        "Ask wait_for_socket for writing too while the outbox has a backlog: the member's own "
        "thread flushes what a broadcast could not send. A lone b'\\r' ends a line too: what "
        "could it become before the LineBuffer sees it? Drop the empty lines that makes.",
        "handle_lines: gather the chat lines and give them to broadcast_lines together, but "
        "send what you gathered before a command acts (a /nick must not rename the lines said "
        "before it). stop: set stopping first, and let say_goodbye watch self._stop_deadline: "
        "a client that does not read must not hold stop past its timeout.",
    ),
    "ex07": (
        "step waits on the server and the keyboard at once with select (self.sock and "
        "self.keys both have fileno()), for the timeout it was given. Nothing ready means a "
        "quiet moment: that is when show_unfinished runs. When both are ready, the server's "
        "turn comes first.",
        "from_keyboard: keys.read() gives b'' at the end of input (Ctrl-D); the bytes still "
        "pending in self.typed are then a last line, typed without Enter. send_typed returns "
        "False after /quit: stop sending there, leave, and return False.",
        "leave: shut only your sending side (socket.SHUT_WR), then keep reading until the "
        "server closes, with select and a deadline; say once that you wait. send_all: wait "
        "until the socket is writable, send what it takes, keep the rest (a memoryview slices "
        "without copying). connect: IPv4 addresses first, and keep the first error.",
    ),
    "ex08": (
        "Sort a copy: sorted(values) leaves the caller's list alone, values.sort() does not. "
        "The percentile sits at position (n - 1) * p / 100 in the sorted list, which is often "
        "not a whole number.",
        "Between the two neighbours of that position (math.floor and math.ceil of it), go the "
        "fraction of the way from the lower value to the upper. Check by hand: "
        "percentile([1, 2, 3, 4], 50) is 2.5, and p=0 and p=100 are the smallest and largest.",
        "An empty list: raise ValueError yourself, first. summary builds its four numbers from "
        "len, percentile and max.",
    ),
    "ex09": (
        "Tell the errors apart by their errno, not by their message (messages change with the "
        "system and its language): cli.has_errno(error, 'EADDRINUSE') works on every system. "
        "On Windows a busy port can say EACCES too.",
        "A busy port: suggest the next port as a command the user can type, and mind port "
        "65535, which has no next. An address that is not this machine's: list "
        "local_addresses(), and suggest 0.0.0.0.",
        "Make each case in a cell, for instance OSError(errno.EADDRINUSE, "
        "os.strerror(errno.EADDRINUSE)), and read the line you return. Anything else ends with "
        "the error's strerror.",
    ),
    "ex10": (
        "verdict only reads data: build a record by hand in a cell (chat's own, with two "
        "screens that are lists of lines) and call verdict on it. Each check is a tuple (ok, "
        "sentence, reason); the outcome is the reason of the first one that is not ok.",
        "welcome_name(lines) and shown(lines, sender, text) read a screen for you. joined looks "
        "at record['raised'] before the welcome, and stops after a first client with no welcome.",
        "renamed has three cases before it looks at the screen: /nick tried ('nick' in "
        "record['done']), not tried though the first line arrived (out of time), not tried "
        "because lines do not arrive (not its failure). Run python -m chatroom.interop against "
        "your own server and read the sentences.",
    ),
}
"""Per exercise, its hints in order: each one says a little more than the one before."""


def key(exercise):
    """"ex06" for "ex06", "ex06_server" or "ex6"; None when it is no exercise."""
    head = exercise.split("_")[0].lower()
    if head.startswith("ex") and head[2:].isdigit():
        return f"ex{int(head[2:]):02d}"
    return None


def hints_for(exercise):
    """The hints of ``exercise`` ("ex06" or "ex06_server"), in order; () if it has none."""
    return HINTS.get(key(exercise) or "", ())


def show(exercise, number, width=88):
    """Hint ``number`` (from 1) of ``exercise``, as lines to print; ValueError if there is none."""
    hints = hints_for(exercise)
    if not hints:
        raise ValueError(f"there are no hints for {exercise}: hints are for the exercises "
                         "(ex01 to ex10); a challenge goes beyond the lessons on purpose")
    if not 1 <= number <= len(hints):
        raise ValueError(f"{exercise} has {len(hints)} hints: ask for 1 to {len(hints)}")
    short = key(exercise)
    lines = [f"Hint {number} of {len(hints)} for {exercise}:"]
    lines += textwrap.wrap(hints[number - 1], width, initial_indent="  ", subsequent_indent="  ")
    if number < len(hints):
        lines.append(f"Still stuck? The next one: python tests/grade.py --student -k {short} "
                     f"--hint {number + 1}  (in a lesson: check(\"{short}\", hint={number + 1}))")
    else:
        lines.append("That was the last hint: the checks' messages say what still fails.")
    return lines
