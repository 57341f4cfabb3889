"""Exercise 9 (lesson 9): explain_listen_error (chatroom/cli.py), the server's failures in words.

Each test checks what the function's docstring says the line must hold, and no more:
the rest of the wording is the student's.
"""

import errno
import socket

import pytest


def explained(sandbox, error, host, port):
    assert error is not None, "the test expected listening there to fail, and it worked"
    message = sandbox.call("chatroom.cli:explain_listen_error", error, host, port)
    assert isinstance(message, str) and message, f"explain_listen_error returned {message!r}"
    assert "\n" not in message, f"the explanation should be one line, with no newline: {message!r}"
    return message


@pytest.mark.points(3)
def test_a_busy_port_names_the_next_one(sandbox):
    with socket.create_server(("127.0.0.1", 0)) as busy:  # the judge holds the port
        port = busy.getsockname()[1]
        error = sandbox.raised("socket:create_server", ("127.0.0.1", port))
        message = explained(sandbox, error, "127.0.0.1", port)
    assert "already in use" in message, (
        f"a port in use (EADDRINUSE) should say 'already in use': {message!r}")
    wanted = f"python -m chatroom.server 127.0.0.1 {port + 1}"
    assert wanted in message, (
        f"a port in use should give the command that tries the next port, {wanted!r}: {message!r}")


@pytest.mark.points(3)
def test_an_address_of_another_machine_lists_ours(sandbox):
    error = sandbox.raised("socket:create_server", ("192.0.2.123", 0))  # never this machine's
    message = explained(sandbox, error, "192.0.2.123", 5050)
    assert "192.0.2.123 is not an address of this machine" in message, (
        f"an address that is not this machine's (EADDRNOTAVAIL) should say "
        f"'192.0.2.123 is not an address of this machine': {message!r}")
    assert "127.0.0.1" in message and "0.0.0.0" in message, (
        f"it should list this machine's addresses (local_addresses(), 127.0.0.1 among them) "
        f"and 0.0.0.0: {message!r}")


@pytest.mark.points(2)
def test_a_privileged_port_suggests_one_from_1024(sandbox):
    error = sandbox.new("builtins:PermissionError", errno.EACCES, "Permission denied")
    message = explained(sandbox, error, "0.0.0.0", 80)
    assert "1024" in message, (
        f"port 80 without the right (EACCES) should name 1024, the first port to use "
        f"instead: {message!r}")


@pytest.mark.points(1)
def test_anything_else_says_what_the_system_said(sandbox):
    error = sandbox.new("builtins:OSError", errno.EMFILE, "Too many open files")
    message = explained(sandbox, error, "127.0.0.1", 5050)
    assert message == "cannot listen on 127.0.0.1 port 5050: Too many open files", (
        f"an error it does not know should read exactly 'cannot listen on 127.0.0.1 port 5050: "
        f"Too many open files', got {message!r}")
