"""Exercise 7 (lesson 7): the client, ChatClient and its helpers (chatroom/client.py).

The judge plays the server, on its end of a real connection, and types on a
real pipe that stands for the keyboard. The client's screen is a StringIO.
"""

import socket
import threading
import time

import pytest

from sandbox import Remote, RemoteError
from wire import left, readable, receive, within

# What the judge keeps of what the student's client sends: these tests expect a few lines
# or nothing, so more is a flood, and the judge stops reading it.
KEPT = 64 << 10
SECONDS = 4.0  # how long the judge's end listens in all: less than a test may take (pytest.ini)
LEAVE_SECONDS = 4.0  # the client's LEAVE_SECONDS while graded: a wait that never ends costs 4 s
# Socket buffers that hold a few hundred kB at both ends: less than send_all's test sends,
# and not so small that a blocking sendall crawls (tiny windows stall it for seconds).
BUFFER = 64 << 10


class PoliteServer:
    """The judge's end, as a real server behaves when a client leaves: it reads what
    the client sent, and once the client has shut its side (leave() does), it sends its
    ``last_words`` (after ``delay`` seconds, a slow server's), and closes.

    It keeps at most KEPT bytes, stops after the socket's timeout of silence, and
    listens for at most SECONDS in all: a client that floods it, or sends a byte at a
    time, is cut off and fails only its own test. ``greeting`` is sent at once."""

    def __init__(self, server_end, kept=KEPT, seconds=SECONDS, greeting=b"", last_words=b"",
                 delay=0.0):
        self._kept, self.flooded, self.limit = bytearray(), False, kept
        self._deadline = within(seconds)
        self._last_words, self._delay = last_words, delay
        if greeting:
            server_end.sendall(greeting)
        self._thread = threading.Thread(target=self._serve, args=(server_end,), daemon=True)
        self._thread.start()

    @property
    def received(self):
        return bytes(self._kept)

    def _serve(self, server_end):
        silence = server_end.gettimeout() or SECONDS
        try:
            while readable(server_end, min(silence, left(self._deadline))):
                data = server_end.recv(4096)
                if not data:
                    time.sleep(max(0.0, min(self._delay, left(self._deadline))))
                    server_end.sendall(self._last_words)
                    return
                if len(self._kept) + len(data) > self.limit:
                    self.flooded = True
                    server_end.close()  # the client's next send fails at once
                    return
                self._kept += data
        except OSError:
            return  # the client reset the connection
        finally:
            try:
                server_end.shutdown(socket.SHUT_WR)  # however it ends, the client sees the end
            except OSError:
                pass  # closed, or reset

    def wait(self):
        self._thread.join(max(0.0, left(self._deadline)) + 0.5)
        assert not self.flooded, f"the client sent more than {self.limit:,} bytes to the server"
        return self.received


def client_module(sandbox, leave_seconds=LEAVE_SECONDS):
    """The student's chatroom.client, its LEAVE_SECONDS made short enough for a test."""
    module = sandbox.call("importlib:import_module", "chatroom.client", _keep=True)
    module.set("LEAVE_SECONDS", leave_seconds)
    return module


class Background:
    """chatroom.client's ``name(*args)``, running in a thread of the sandbox: for a call that
    may take longer than one request to the sandbox may (a slow server, a wait)."""

    def __init__(self, sandbox, name, *args, leave_seconds=LEAVE_SECONDS):
        self.name, function = name, client_module(sandbox, leave_seconds).get(name)
        self.started = time.monotonic()
        pool = sandbox.new("concurrent.futures:ThreadPoolExecutor", 1)
        self.future = pool.submit(function, *args)

    def took(self, seconds):
        """The seconds the call took, once it has returned (an error it raised is raised here,
        as the call's own); AssertionError if it runs ``seconds`` after it started."""
        while not self.future.done():
            if time.monotonic() - self.started > seconds:
                raise AssertionError(f"{self.name}() had not returned {seconds:g} s after it "
                                     "was called: does it wait for something that never comes?")
            time.sleep(0.02)
        took = time.monotonic() - self.started
        self.future.result()
        return took


@pytest.fixture
def chat(sandbox):
    """(the student's ChatClient, the judge's end of its connection, the keyboard, the screen)."""
    client_module(sandbox)
    sock, server_end = sandbox.connect_pair()
    keys_in, keyboard = sandbox.request("pipe")
    keys = sandbox.new("chatroom.client:StdinKeyboard", keys_in)
    screen = sandbox.new("io:StringIO")
    client = sandbox.new("chatroom.client:ChatClient", sock, keys, screen)
    return client, server_end, keyboard, screen


def client_pair(sandbox):
    """(a socket in the sandbox, as connect() leaves it: no timeout; the judge's end; a screen)."""
    sock, server_end = sandbox.connect_pair()
    sock.settimeout(None)
    return sock, server_end, sandbox.new("io:StringIO")


def steps_until_over(client, most=3):
    """What ``client.step(2.0)`` returned, step after step, until False or ``most`` steps."""
    going_on = [client.step(2.0)]
    while going_on[-1] is not False and len(going_on) < most:
        going_on.append(client.step(2.0))
    return going_on


# -- one step ---------------------------------------------------------------------------------

@pytest.mark.points(2)
def test_what_the_server_sends_is_shown(chat):
    client, server_end, keyboard, screen = chat
    server_end.sendall("<bob> héllo\n".encode("utf-8"))
    going_on = client.step(2.0)
    assert screen.getvalue() == "<bob> héllo\n", (
        f"the server sent '<bob> héllo\\n'; the screen shows {screen.getvalue()!r}: from_server "
        "shows each whole line")
    assert going_on is True, "step should return True while the chat goes on"


@pytest.mark.points(2)
def test_a_typed_line_is_sent_and_echoed(chat):
    client, server_end, keyboard, screen = chat
    keyboard.type(b"hi all\n")
    going_on = client.step(2.0)
    got = receive(server_end, 7)
    assert got == b"hi all\n", f"the user typed 'hi all'; the server got {got!r}"
    assert screen.getvalue() == "<You> hi all\n", (
        f"the screen shows {screen.getvalue()!r}, not '<You> hi all\\n': send_typed echoes "
        "what it sent")
    assert going_on is True, "step should return True while the chat goes on"


@pytest.mark.points(1)
def test_a_command_is_sent_but_not_echoed(chat):
    client, server_end, keyboard, screen = chat
    keyboard.type(b"/nick bob\n")
    going_on = client.step(2.0)
    got = receive(server_end, 10)
    assert got == b"/nick bob\n", f"the user typed '/nick bob'; the server got {got!r}"
    assert screen.getvalue() == "", (
        f"a command is for the server, not an echo: the screen shows {screen.getvalue()!r}")
    assert going_on is True, "/nick is no /quit: step should return True"


@pytest.mark.points(1)
def test_the_server_going_away_ends_the_chat(chat):
    client, server_end, keyboard, screen = chat
    server_end.sendall(b"<alice> hel")  # its last words, unfinished
    server_end.close()
    going_on = steps_until_over(client)  # the words, then the end, may come in two steps
    assert going_on[-1] is False, (
        "the server closed the connection (recv returned b''): step should return False")
    shown = screen.getvalue()
    assert "closed the connection" in shown, (
        f"the screen should say the server closed the connection; it shows {shown!r}")
    assert shown.startswith("<alice> hel\n"), (
        f"the server's last words were b'<alice> hel', with no newline: from_server shows them "
        f"before it says the server closed the connection; the screen shows {shown!r}")


@pytest.mark.points(1)
def test_the_end_of_input_ends_the_chat_and_the_server_gets_every_line(chat):
    client, server_end, keyboard, screen = chat
    server = PoliteServer(server_end)
    keyboard.type(b"one\ntwo\n")
    keyboard.end()
    going_on = steps_until_over(client)  # the lines, then the end, may come in two steps
    assert going_on[-1] is False, (
        f"the keyboard's input ended (Ctrl-D): step should return False; it returned {going_on}")
    got = server.wait()
    assert got == b"one\ntwo\n", (
        f"the user typed 'one' and 'two', then the input ended: the server should get both lines, "
        f"then the end of our side (leave), got {got!r}")


@pytest.mark.points(1)
def test_quit_is_sent_and_ends_the_chat(chat):
    client, server_end, keyboard, screen = chat
    server = PoliteServer(server_end)
    keyboard.type(b"/quit\n")
    assert client.step(2.0) is False, "after sending /quit, step should return False"
    assert server.wait() == b"/quit\n", f"/quit should be sent to the server; it got {server.received!r}"


@pytest.mark.points(1)
def test_send_typed_squeezes_blanks_and_knows_quit_in_any_case(sandbox):
    sock, server_end, screen = client_pair(sandbox)
    going_on = sandbox.call("chatroom.client:send_typed", sock, b"hi   all \t there", screen)
    got = receive(server_end, 13)
    assert (going_on, got, screen.getvalue()) == (True, b"hi all there\n", "<You> hi all there\n"), (
        f"typed 'hi   all \\t there': the server squeezes the blanks, so send_typed should send "
        f"and echo 'hi all there' (clean_text, then squeeze_blanks) and return True; it returned "
        f"{going_on!r}, sent {got!r} and showed {screen.getvalue()!r}")
    for typed in (b"/QUIT", b"/quit see you"):
        going_on = sandbox.call("chatroom.client:send_typed", sock, typed, screen)
        assert going_on is False, (
            f"typed {typed.decode()!r}: /quit in any letter case, and with words after it, ends "
            f"the chat; send_typed returned {going_on!r}")


@pytest.mark.points(1)
def test_receive_raises_a_timeout_it_is_not_the_server_leaving(sandbox):
    sock, server_end, screen = client_pair(sandbox)
    sock.settimeout(0.2)
    try:
        got = sandbox.call("chatroom.client:receive", sock)
    except RemoteError as error:
        assert error.is_a("TimeoutError") or error.is_a("timeout"), (
            f"receive on a live, quiet socket with a 0.2 s timeout should let the timeout be "
            f"raised; it raised {error.message!r}")
    else:
        raise AssertionError(
            f"receive on a live, quiet socket with a 0.2 s timeout returned {got!r}: a timeout is "
            f"not the server leaving (only b'' and ConnectionError are), so let it be raised")


@pytest.mark.points(1)
def test_when_both_are_ready_the_server_goes_first(chat):
    client, server_end, keyboard, screen = chat
    server_end.sendall(b"<bob> first\n")
    keyboard.type(b"second\n")
    assert client.step(2.0) is True, "step should return True while the chat goes on"
    if "<You>" not in screen.getvalue():  # select saw only one of them ready: one more step
        client.step(2.0)
    assert screen.getvalue() == "<bob> first\n<You> second\n", (
        f"with both ready, the server's line should be shown before the typed one: "
        f"{screen.getvalue()!r}")


@pytest.mark.points(1)
def test_quiet_time_shows_a_line_without_its_end(chat):
    client, server_end, keyboard, screen = chat
    server_end.sendall(b"a prompt with no newline")
    for _ in range(10):  # the data arrives, then a quiet step shows it
        assert client.step(0.2) is True, "step should return True while the chat goes on"
        if screen.getvalue():
            break
    assert screen.getvalue() == "a prompt with no newline\n", (
        "when nothing is ready before the timeout, step should call show_unfinished(); the "
        f"screen shows {screen.getvalue()!r}")
    for _ in range(2):  # more quiet steps
        client.step(0.2)
    assert screen.getvalue() == "a prompt with no newline\n", (
        "show_unfinished shows an unfinished line once, then forgets it; after two more quiet "
        f"steps the screen shows {screen.getvalue()!r}")


# -- the whole chat ---------------------------------------------------------------------------

@pytest.mark.points(2)
def test_run_chats_until_quit_and_the_server_gets_every_line(sandbox):
    client_module(sandbox)
    sock, server_end = sandbox.connect_pair()
    keys_in, keyboard = sandbox.request("pipe")
    screen = sandbox.new("io:StringIO")
    server = PoliteServer(server_end, greeting=b"* Welcome, 127.0.0.1!\n<bob> hi\n",
                          last_words=b"* Bye!\n")
    typed = [f"line {n}" for n in range(100)]
    keyboard.type("".join(line + "\n" for line in typed + ["/nick carol", "/quit"]).encode())
    Background(sandbox, "run", sock, keys_in, screen).took(SECONDS)
    got = server.wait().decode("utf-8", "replace").splitlines()
    assert got == typed + ["/nick carol", "/quit"], (
        f"the user typed 100 lines, '/nick carol' and '/quit': the server should get them all, "
        f"in order; it got {len(got)} lines, ending {got[-2:]}")
    shown = screen.getvalue().splitlines()
    wanted = ["* Welcome, 127.0.0.1!", "<bob> hi"] + [f"<You> {line}" for line in typed] + ["* Bye!"]
    assert shown == wanted, (
        f"the screen should show the server's lines, each typed line as '<You> ...', and the "
        f"server's last line after /quit; it shows {len(shown)} lines: "
        f"{shown[:3]} ... {shown[-2:]}")


@pytest.mark.points(2)
def test_leave_waits_for_the_servers_last_lines(sandbox):
    client_module(sandbox)
    sock, server_end, screen = client_pair(sandbox)
    PoliteServer(server_end, last_words=b"<bob> one more\n* Bye!\n")
    Background(sandbox, "leave", sock, screen).took(SECONDS)
    assert screen.getvalue() == "<bob> one more\n* Bye!\n", (
        f"after leave() shut our side, the server sent '<bob> one more' and '* Bye!' at once, "
        f"then closed: leave should show them, and nothing else; the screen shows "
        f"{screen.getvalue()!r}")
    sock, server_end, screen = client_pair(sandbox)
    PoliteServer(server_end, last_words=b"<bob> one more\n* Bye!\n", delay=2.3)
    Background(sandbox, "leave", sock, screen).took(SECONDS)
    shown = screen.getvalue().splitlines()
    assert shown[-2:] == ["<bob> one more", "* Bye!"], (
        f"a server that takes 2.3 s to send its last lines and close: leave should wait for "
        f"them and show them; the screen shows {shown}")
    notices = shown[:-2]
    assert len(notices) == 1 and notices[0].startswith("* ") and "4" in notices[0], (
        f"while the server is quiet for more than GOODBYE_SECONDS, leave should say once, in a "
        f"line starting with '* ', that it waits, and for how long at most (LEAVE_SECONDS, "
        f"{LEAVE_SECONDS:g} s here); the screen shows {notices} before the server's lines")


@pytest.mark.points(1)
def test_send_all_waits_for_a_server_that_does_not_read(sandbox):
    client_module(sandbox)
    sock, server_end, _ = client_pair(sandbox)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
    server_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
    data = b"".join(b"%07d\n" % n for n in range(1 << 17))  # 1 MiB: far more than the buffers
    got = []

    def read_later():  # the server reads nothing for 1.5 s, then everything
        time.sleep(1.5)
        got.append(receive(server_end, len(data), timeout=3.0))

    reading = threading.Thread(target=read_later, daemon=True)
    reading.start()
    took = Background(sandbox, "send_all", sock, data).took(SECONDS)
    reading.join(5)
    received = got[0] if got else b""
    assert received == data, (
        f"send_all should send all of its 1 MiB while the server does not read for 1.5 s, then "
        f"reads: it got {len(received):,} bytes{', not in order' if len(received) == len(data) else ''}")
    assert took > 1.0, f"send_all returned after {took:.1f} s, before the server could read it all"


@pytest.mark.points(1)
def test_connect_reaches_the_server_or_raises_why(sandbox):
    client_module(sandbox)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(2.0)
        port = listener.getsockname()[1]
        sock = sandbox.call("chatroom.client:connect", "127.0.0.1", port)
        assert isinstance(sock, Remote) and sock.kind == "socket", (
            f"connect('127.0.0.1', port) should return the connected socket, got {sock!r}")
        accepted, _ = listener.accept()
        accepted.close()
        assert sock.gettimeout() is None, (
            f"the socket connect returns should have no timeout (select waits for the server); "
            f"it has {sock.gettimeout()!r}")
    with socket.socket() as taken:  # a port of ours where nothing listens
        taken.bind(("127.0.0.1", 0))
        refused = sandbox.raised("chatroom.client:connect", "127.0.0.1", taken.getsockname()[1])
    assert refused is not None and refused.kind == "ConnectionRefusedError", (
        f"connect to a port where nothing listens should raise the error that says so, "
        f"ConnectionRefusedError; it raised {refused.kind if refused else 'nothing'}")
