"""Check a classmate's chat server with your own client: ``python -m chatroom.interop HOST PORT``.

Two of your ``ChatClient``s (exercise 7) join the server, each with a keyboard
that a script types on and a screen that keeps what it shows. The script::

    chat()      the first client joins, then the second; each must be welcomed
                the first says a line: the second must show it, and back
                the first types /nick carol, then a line: the second must show <carol>
                each types /quit: it must show the goodbye, and the server close
    verdict()   reads the two screens: "ok" or the first thing that failed, and a
                sentence for each step (exercise 10: yours to write, with joined,
                relayed, renamed and goodbyes)

Every wait has a deadline, and no step depends on a "joined" notice, which a
server may leave out (rate limits). The grader's interop day
(``python tests/grade.py CLASS --interop``) runs ``chat`` with every student's
client against every student's server, and decides with ``verdict`` itself.
"""

import argparse
import io
import re
import select
import socket
import sys
import time

from . import cli, client, pieces

WELCOME_SECONDS = 3.0  # for each welcome
LINE_SECONDS = 2.0  # for a line to reach the other client; it is typed again meanwhile
RETYPE_SECONDS = 0.5  # a line typed just as the other joined may miss it: type it again
QUIT_SECONDS = 2.0  # for the goodbye and the closed connection after /quit
CHAT_SECONDS = 10.0  # for the whole chat
SCREEN_CHARACTERS = 1_000_000  # what a client may show in one chat
SAID = ("hello from the first client", "hello from the second client", "a line after /nick")
WELCOMED = re.compile(r"\* Welcome to the chat room, (\S+?)!(?:\s|$)")


class Keyboard:
    """A keyboard the script types on: one end of a socket pair, which ``select``
    can watch everywhere (Windows' takes only sockets)."""

    def __init__(self):
        self._reader, self._writer = socket.socketpair()

    def type(self, text):
        self._writer.sendall(text.encode("utf-8") + b"\n")

    def fileno(self):
        return self._reader.fileno()

    def read(self):
        return self._reader.recv(client.READ_BYTES)

    def close(self):
        self._reader.close()
        self._writer.close()


class Person:
    """One of the two people of the chat: your ChatClient, its keyboard and its screen."""

    def __init__(self, sock):
        self.sock, self.keys, self.screen = sock, Keyboard(), io.StringIO()
        self.chat = client.ChatClient(sock, self.keys, self.screen)
        self.over, self.problem = False, None

    def lines(self):
        """What the screen shows so far, line by line."""
        return self.screen.getvalue().splitlines()

    def step(self):
        """One step of the client, with nothing to wait for: something is ready."""
        try:
            self.over = not self.chat.step(0)
        except Exception as error:  # noqa: BLE001 -- the student's code: said, not raised
            self.over, self.problem = True, f"{type(error).__name__}: {error}"
        if self.screen.tell() > SCREEN_CHARACTERS:  # a server that floods: stop listening
            self.over, self.problem = True, f"a screen of over {SCREEN_CHARACTERS:,} characters"

    def close(self):
        self.keys.close()
        self.sock.close()


def wait_until(people, seen, seconds):
    """Step the clients as the server or the keyboard gives them something, until
    ``seen()`` is true (True) or ``seconds`` have passed (False)."""
    deadline = time.monotonic() + seconds
    while not seen():
        left = deadline - time.monotonic()
        active = [person for person in people if not person.over]
        if left <= 0 or not active:
            return False
        ready, _, _ = select.select([part for person in active
                                     for part in (person.sock, person.keys)], [], [], left)
        for person in active:
            if person.sock in ready or person.keys in ready:
                person.step()
    return True


def typed_until(people, person, line, seen, seconds):
    """``person`` types ``line``, again every RETYPE_SECONDS, until ``seen()``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not person.over:
        person.keys.type(line)
        if wait_until(people, seen, min(RETYPE_SECONDS, deadline - time.monotonic())):
            return True
    return False


def join(host, port, source, timeout=cli.CONNECT_TIMEOUT):
    """A socket connected to the server within ``timeout`` seconds, from ``source`` (an
    address of this machine) if given, else with your ``connect``; without a timeout
    afterwards, as the client wants."""
    if source is None:
        return client.connect(host, port, timeout)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.settimeout(timeout)
        sock.bind((source, 0))
        sock.connect((host, port))
    except OSError:
        sock.close()
        raise
    sock.settimeout(None)
    return sock


def chat(host, port, nick="carol", sources=(None, None), seconds=CHAT_SECONDS):
    """Run the scripted chat with two of your clients against the server at ``host``,
    ``port``; what happened, as plain data for ``verdict``.

    ``sources`` are the addresses each client connects from (None: your ``connect``).
    Your client's ``leave`` waits at most QUIT_SECONDS meanwhile, not LEAVE_SECONDS.
    """
    pieces.require_for("client")
    record = {"host": host, "port": port, "nick": nick, "seconds": seconds, "problem": None,
              "done": [], "screens": [[], []], "raised": [None, None], "closed": [False, False]}
    people, leave_seconds = [], client.LEAVE_SECONDS
    client.LEAVE_SECONDS = QUIT_SECONDS
    try:
        script(people, record, (host, port), sources, time.monotonic() + seconds)
    finally:
        client.LEAVE_SECONDS = leave_seconds
        for number, person in enumerate(people):
            record["screens"][number] = person.lines()
            record["raised"][number] = person.problem
            person.close()
    return record


def script(people, record, server, sources, deadline):
    """The chat itself (see the module's docstring); each step noted in record["done"]."""
    def left(most):
        return max(0.0, min(most, deadline - time.monotonic()))

    for source in sources:
        try:  # connecting too, and leaving below, within the chat's time
            people.append(Person(join(*server, source, max(0.1, left(cli.CONNECT_TIMEOUT)))))
        except OSError as error:
            record["problem"] = cli.explain_connect_error(error, *server)
            return
        if not wait_until(people, lambda: welcome_name(people[-1].lines()) is not None,
                          left(WELCOME_SECONDS)):
            return
    record["done"].append("welcome")
    names = [welcome_name(person.lines()) for person in people]
    for speaker, hearer, said in ((0, 1, SAID[0]), (1, 0, SAID[1])):
        typed_until(people, people[speaker], said, lambda: shown(
            people[hearer].lines(), names[speaker], said), left(LINE_SECONDS))
    record["done"].append("lines")
    if shown(people[1].lines(), names[0], SAID[0]):
        people[0].keys.type(f"/nick {record['nick']}")
        typed_until(people, people[0], SAID[2], lambda: any(
            shown(people[1].lines(), name, SAID[2]) for name in (record["nick"], names[0])),
            left(LINE_SECONDS))
        record["done"].append("nick")
    for number, person in enumerate(people):
        client.LEAVE_SECONDS = left(QUIT_SECONDS)
        person.keys.type("/quit")
        wait_until([person], lambda: person.over, left(QUIT_SECONDS))
        record["closed"][number] = person.over and closed_by_server(person.sock, left(QUIT_SECONDS))
    record["done"].append("quit")


def welcome_name(lines):
    """The name a welcome line in ``lines`` gives, or None before the welcome."""
    for line in lines:
        found = WELCOMED.match(line)
        if found:
            return found.group(1)
    return None


def shown(lines, sender, text):
    """True if ``lines`` show ``text`` said by ``sender``."""
    return f"<{sender}> {text}" in lines


def closed_by_server(sock, seconds):
    """True once the server has closed the connection, within ``seconds``."""
    deadline = time.monotonic() + seconds
    try:
        while select.select([sock], [], [], max(0.0, deadline - time.monotonic()))[0]:
            if not sock.recv(client.READ_BYTES):
                return True
            if time.monotonic() > deadline:  # a server that never stops sending
                break
    except ConnectionError:
        return True
    except OSError:
        pass  # the client closed it itself
    return False


def verdict(record):
    """What the chat in ``record`` (from ``chat``) shows: ``(outcome, sentences)``.

    ``outcome`` is "ok" when every check passed, else the reason of the first check
    that failed, in a few words; ``sentences`` has one sentence per check, in order,
    for a student to read (your own wording).

    A record whose "problem" is set (the server could not be reached) gives
    ("cannot connect", [that problem, as a sentence]). Otherwise the checks are
    ``joined``'s, then, once "welcome" is in record["done"], ``relayed``'s,
    ``renamed``'s and ``goodbyes``'s (each a list of (ok, sentence, reason)). When
    "quit" is not in record["done"] and nothing failed, or when no check was made,
    the chat ran out of its record["seconds"]: one more check fails, with the reason
    "the chat took too long" and a sentence that says so.
    """
    ### BEGIN SOLUTION
    if record["problem"]:
        return "cannot connect", [f"{record['problem']}."]
    checks = joined(record)
    if "welcome" in record["done"]:
        checks += relayed(record) + renamed(record) + goodbyes(record)
    failed = [reason for ok, _, reason in checks if not ok]
    if not checks or "quit" not in record["done"] and not failed:
        failed.append("the chat took too long")
        checks.append((False, f"The chat took more than {record['seconds']:g} s: stopped.", ""))
    return (failed[0] if failed else "ok"), [sentence for _, sentence, _ in checks]
    ### END SOLUTION


def joined(record):
    """(ok, sentence, reason) for each client that tried to join, in order.

    For the first client, then the second: when record["raised"] holds what its
    code raised ("ValueError: ..."), a failed check with the reason "the client
    raised ValueError" (the exception's name: the text before the first ":"); then
    whether its screen (record["screens"]) shows a welcome (``welcome_name``): the
    reason, when not, is "no welcome within WELCOME_SECONDS s" ("no welcome within
    3 s"); the sentence names the welcome's name when there is one. No check is made
    for the second client when the first was not welcomed.
    """
    ### BEGIN SOLUTION
    checks = []
    for who, lines, raised in zip(("first", "second"), record["screens"], record["raised"]):
        if raised:
            checks.append((False, f"Your {who} client's code raised {raised}.",
                           "the client raised " + raised.split(":")[0]))
        name = welcome_name(lines)
        checks.append((name is not None, f"Your {who} client joined: the server welcomed it "
                       f"as {name}." if name is not None else f"Your {who} client got no "
                       f"welcome within {WELCOME_SECONDS:g} s.",
                       f"no welcome within {WELCOME_SECONDS:g} s"))
        if name is None:
            break
    return checks
    ### END SOLUTION


def relayed(record):
    """(ok, sentence, reason) for lines each way: did the second client's screen show
    the first's line (SAID[0]) under the first's welcome name, ``<name> text``
    (``shown``), and the first's screen the second's (SAID[1])? Two checks, in that
    order; the reason of either is "lines do not reach the other client".
    """
    ### BEGIN SOLUTION
    names = [welcome_name(lines) for lines in record["screens"]]
    checks = []
    for speaker, hearer, said, way in ((0, 1, SAID[0], "the first client to the second"),
                                       (1, 0, SAID[1], "the second client to the first")):
        ok = shown(record["screens"][hearer], names[speaker], said)
        checks.append((ok, f"Lines go from {way}: " + ("yes." if ok else f"no (<{names[speaker]}> "
                       f"{said} did not come within {LINE_SECONDS:g} s)."),
                       "lines do not reach the other client"))
    return checks
    ### END SOLUTION


def renamed(record):
    """(ok, sentence, reason) for /nick: one check.

    The script types /nick record["nick"], then SAID[2], only when the first line
    reached the second client, and then notes "nick" in record["done"]. So: /nick
    not tried though the first line did arrive means the chat ran out of time
    (failed, "the chat took too long"); not tried because lines do not arrive is not
    this check's failure (ok: relayed() said why). Tried: ok when the second client
    shows SAID[2] under the new name, else failed with "/nick not seen"; the sentence
    then says what the second client saw instead, and what the server answered the
    first (its "* " line that holds the new name), if anything.
    """
    ### BEGIN SOLUTION
    nick, first, second = record["nick"], *record["screens"]
    if "nick" not in record["done"] and shown(second, welcome_name(first), SAID[0]):
        return [(False, "/nick: not checked: the chat ran out of time.", "the chat took too long")]
    if "nick" not in record["done"]:
        return [(True, "/nick: not checked, as lines do not reach the second client.", "")]
    if shown(second, nick, SAID[2]):
        return [(True, f"/nick: the second client saw <{nick}> after /nick {nick}: yes.", "")]
    saw = [line for line in second if line.endswith(f"> {SAID[2]}")][:1]
    answers = [line for line in first if line.startswith("* ") and nick in line][:1]
    return [(False, f"/nick: the second client did not see <{nick}> after /nick {nick}"
             + (f"; it saw {saw[0]}" if saw else "") + (f"; the server answered: {answers[0]}"
                                                       if answers else "") + ".", "/nick not seen")]
    ### END SOLUTION


def goodbyes(record):
    """(ok, sentence, reason) for /quit: each client should show "* Bye!" and have
    its connection closed by the server (record["closed"]). A failed check for each
    client that did not: "no goodbye after /quit" when there is no "* Bye!", else
    "connection not closed after /quit"; when both did, one check that passed.
    """
    ### BEGIN SOLUTION
    checks = []
    for who, lines, closed in zip(("first", "second"), record["screens"], record["closed"]):
        if "* Bye!" not in lines:
            checks.append((False, f"/quit: your {who} client got no goodbye (* Bye!) within "
                           f"{QUIT_SECONDS:g} s.", "no goodbye after /quit"))
        elif not closed:
            checks.append((False, f"/quit: the server said goodbye to your {who} client, but did "
                           f"not close the connection within {QUIT_SECONDS:g} s.",
                           "connection not closed after /quit"))
    return checks or [(True, "/quit: both clients got the goodbye (* Bye!), and the server "
                             "closed their connections: yes.", "")]
    ### END SOLUTION


def main(argv=None):
    """The command line: ``python -m chatroom.interop HOST PORT``; 0 when all worked."""
    parser = argparse.ArgumentParser(prog="python -m chatroom.interop",
                                     description="Check a chat server with two of your clients.")
    parser.add_argument("host", help="the server's address, as its owner told you")
    parser.add_argument("port", help="the server's port")
    parser.error = lambda message: cli.fail(f"{message} (usage: python -m chatroom.interop "
                                            "HOST PORT)", status=2)
    args = parser.parse_args(argv)
    cli.require_pieces("interop")
    try:
        host, port = cli.resolve(args.host), cli.parse_port(args.port)
    except cli.UsageError as problem:
        cli.fail(str(problem), status=2)
    record = chat(host, port)
    if record["problem"]:
        cli.fail(record["problem"])
    outcome, sentences = verdict(record)
    print("\n".join(sentences))
    return 0 if outcome == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
