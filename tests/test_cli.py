"""Every command-line mistake, run as a real subprocess: a plain message, never a traceback."""

import os
import shutil
import socket
import sys

import pytest

from conftest import run_script

pytestmark = pytest.mark.timeout(60)

SERVER = ("-m", "chatroom.server")
CLIENT = ("-m", "chatroom.client")


def one_error_line(result, status):
    """The single "error: ..." line a failed run printed on stderr."""
    assert result.returncode == status
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("args", [CLIENT, CLIENT + ("a", "1", "2"), SERVER + ("a", "1", "2")],
                         ids=["client-none", "client-three", "server-three"])
def test_wrong_number_of_arguments_prints_usage_and_exits_2(args):
    result = run_script(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m chatroom.")
    assert "error:" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, shown", [
    (SERVER + ("127.0.0.1", "chat"), "'chat'"),
    (SERVER + ("127.0.0.1", "65536"), "'65536'"),
    (SERVER + ("127.0.0.1", "²"), "'²'"),
    (CLIENT + ("127.0.0.1", "0"), "from 1 to 65535"),
    (CLIENT + ("127.0.0.1", "80x"), "'80x'"),
])
def test_bad_port(args, shown):
    line = one_error_line(run_script(*args), 2)
    assert "the port must be a whole number" in line and shown in line


@pytest.mark.parametrize("args", [SERVER + ("nowhere.invalid", "5050"),
                                  CLIENT + ("nowhere.invalid", "5050")], ids=["server", "client"])
def test_host_that_does_not_resolve(args):
    line = one_error_line(run_script(*args), 2)
    assert "cannot find the address of 'nowhere.invalid'" in line


def test_max_clients_must_be_positive():
    result = run_script(*SERVER, "--max-clients", "0")
    assert result.returncode == 2 and "at least 1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["0", "ten"])
def test_max_per_address_must_be_positive(value):
    result = run_script(*SERVER, "--max-per-address", value)
    assert result.returncode == 2
    assert f"argument --max-per-address: expected a whole number of at least 1, not '{value}'" \
        in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_busy_port_says_so_and_suggests_another():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        line = one_error_line(run_script(*SERVER, "127.0.0.1", str(port)), 1)
    assert f"port {port} is already in use on 127.0.0.1" in line
    assert f"python -m chatroom.server 127.0.0.1 {port + 1}" in line


def test_address_not_on_this_machine_lists_local_ones():
    line = one_error_line(run_script(*SERVER, "192.0.2.123", "5050"), 1)
    assert "192.0.2.123 is not an address of this machine" in line
    assert "127.0.0.1" in line.split("Its addresses are:")[1]


def test_client_connection_refused_says_where_and_what_to_check():
    with socket.socket() as closed_port:  # bound but not listening: connections are refused
        closed_port.bind(("127.0.0.1", 0))
        port = closed_port.getsockname()[1]
        line = one_error_line(run_script(*CLIENT, "127.0.0.1", str(port)), 1)
    assert f"connection refused by 127.0.0.1 port {port}" in line
    assert "is the server running" in line and "firewall" in line


@pytest.mark.parametrize("name", ["chatroom-server", "chatroom-client"])
def test_console_scripts_are_installed(name):
    found = shutil.which(name, path=os.path.dirname(sys.executable))
    assert found, f"{name} is not next to {sys.executable}; pip install -e . creates it"
