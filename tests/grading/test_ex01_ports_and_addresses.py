"""Exercise 1 (lesson 1): the command line's checks, parse_port and resolve (chatroom/cli.py)."""

import pytest

from sandbox import RemoteError


def refusal(call, described):
    """The message of the UsageError that ``call()`` raises; fails, in plain words, if none."""
    try:
        result = call()
    except RemoteError as error:
        if error.is_a("UsageError"):
            return error.message
        raise
    raise AssertionError(f"{described} should raise UsageError; it returned {result!r}")


@pytest.mark.points(2)
def test_good_ports(sandbox):
    for text, port in (("5050", 5050), ("1", 1), ("65535", 65535)):
        got = sandbox.call("chatroom.cli:parse_port", text)
        assert got == port, f"parse_port({text!r}) should return {port}, got {got!r}"


@pytest.mark.points(3)
def test_bad_ports_are_refused_naming_the_text(sandbox):
    for text in ("fifty", "", "0", "65536", "-1", "50.5", " 80", "\u0665\u0660", "²"):
        message = refusal(lambda: sandbox.call("chatroom.cli:parse_port", text), f"parse_port({text!r})")
        assert repr(text) in message, (
            f"the message for parse_port({text!r}) should show {text!r}; it says {message!r}")


@pytest.mark.points(1)
def test_port_zero_only_when_allowed(sandbox):
    got = sandbox.call("chatroom.cli:parse_port", "0", allow_zero=True)
    assert got == 0, f"parse_port('0', allow_zero=True) should return 0, got {got!r}"
    message = refusal(lambda: sandbox.call("chatroom.cli:parse_port", "0"), "parse_port('0')")
    assert "1 to 65535" in message, f"parse_port('0') should say the range is 1 to 65535: {message!r}"


@pytest.mark.points(2)
def test_addresses_and_names_resolve(sandbox):
    for host, wanted in (("127.0.0.1", "127.0.0.1"), ("localhost", "127.0.0.1"), ("::1", "::1")):
        got = sandbox.call("chatroom.cli:resolve", host)
        assert got == wanted, f"resolve({host!r}) should return {wanted!r}, got {got!r}"


@pytest.mark.points(2)
def test_an_unknown_name_is_refused_by_name(sandbox):
    for host in ("no-such-host.invalid", "bad..name"):
        message = refusal(lambda: sandbox.call("chatroom.cli:resolve", host), f"resolve({host!r})")
        assert repr(host) in message, f"the message should name {host!r}; it says {message!r}"
