"""The lab on two hosts: Linux network namespaces joined by a virtual cable.

Host A (10.77.0.1) and host B (10.77.0.2) are two network namespaces with a
veth pair between them: each has its own interfaces, addresses and loopback,
as two lab machines do. The scripts run in them with ``ip netns exec``, exactly
as a student types them. The namespaces get names unique to this run and are
removed afterwards, even when a test fails. Where namespaces are not allowed
(not Linux, not root, no ``ip``), the tests are skipped and say why.
"""

import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import SCRIPT_TIMEOUT, script_env

HOST_A, HOST_B = "10.77.0.1", "10.77.0.2"
NOBODYS_HARDWARE_ADDRESS = "02:00:00:00:00:99"  # locally administered, on no interface


def ip(*arguments):
    """Run ``ip ARGUMENTS``; raise with its error message if it fails."""
    result = subprocess.run(["ip", *arguments], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise OSError(f"ip {' '.join(arguments)}: {result.stderr.strip()}")


class Hosts:
    """Two namespaces, A and B, and the veth cable between them."""

    def __init__(self):
        tag = os.getpid()
        self.a, self.b = f"chatlab-a-{tag}", f"chatlab-b-{tag}"
        self.cable_a, self.cable_b = f"chat{tag}a"[-15:], f"chat{tag}b"[-15:]

    def build(self):
        ip("netns", "add", self.a)
        ip("netns", "add", self.b)
        ip("link", "add", self.cable_a, "type", "veth", "peer", "name", self.cable_b)
        for host, cable, address in ((self.a, self.cable_a, HOST_A), (self.b, self.cable_b, HOST_B)):
            ip("link", "set", cable, "netns", host)
            ip("-n", host, "addr", "add", f"{address}/24", "dev", cable)
            ip("-n", host, "link", "set", cable, "up")
            ip("-n", host, "link", "set", "lo", "up")

    def remove(self):
        for host in (self.a, self.b):  # removing a namespace removes its end of the cable
            subprocess.run(["ip", "netns", "del", host], capture_output=True, timeout=30)

    def drop_everything_from_b_to_a(self):
        """Make the network silently lose B's packets to A, as a dropping firewall does.

        B's neighbour entry for A names a hardware address that no interface
        has, so every frame B sends to A is ignored on arrival. (netem and
        iptables would do the same, but many CI kernels lack them.)
        """
        ip("-n", self.b, "neigh", "replace", HOST_A, "lladdr", NOBODYS_HARDWARE_ADDRESS,
           "dev", self.cable_b, "nud", "permanent")

    def restore_b_to_a(self):
        ip("-n", self.b, "neigh", "del", HOST_A, "dev", self.cable_b)

    def command(self, host, *arguments):
        """``python ARGUMENTS`` as run on ``host``."""
        return ["netns", "exec", host, sys.executable, *arguments]


def why_no_namespaces():
    if not sys.platform.startswith("linux"):
        return "network namespaces exist on Linux only"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    return None


@pytest.fixture(scope="module")
def hosts():
    reason = why_no_namespaces()
    if reason:
        pytest.skip(reason)
    lab = Hosts()
    try:
        lab.build()
    except OSError as problem:
        lab.remove()
        pytest.skip(f"this machine does not allow network namespaces: {problem}")
    yield lab
    lab.remove()


@pytest.fixture
def on(hosts, scripts):
    """on(host, *arguments) starts ``python ARGUMENTS`` on that host, in the background."""
    return lambda host, *arguments: scripts(*hosts.command(host, *arguments), program="ip",
                                            env=script_env())


def run_on(hosts, host, *arguments, timeout=SCRIPT_TIMEOUT):
    """Run ``python ARGUMENTS`` on ``host`` to the end; return the CompletedProcess."""
    return subprocess.run(["ip", *hosts.command(host, *arguments)], capture_output=True,
                          text=True, timeout=timeout, env=script_env(),
                          stdin=subprocess.DEVNULL)


def stop(server):
    """Ctrl-C the server; it must say goodbye and exit 0."""
    server.process.send_signal(signal.SIGINT)
    code, _, stderr = server.finish()
    assert code == 0, stderr


def test_two_hosts_chat_both_ways(hosts, on):
    server = on(hosts.a, "-m", "chatroom.server", HOST_A, "5050")
    server.wait_for(f"Clients connect with: python -m chatroom.client {HOST_A} 5050")
    alice = on(hosts.a, "-m", "chatroom.client", HOST_A, "5050")
    alice.wait_for("* Welcome")
    bob = on(hosts.b, "-m", "chatroom.client", HOST_A, "5050")
    bob.wait_for("* Welcome to the chat room, 10.77.0.2!")
    alice.wait_for(f"* {HOST_B} joined")  # both are in the room

    alice.type("hello from host A")
    bob.wait_for(f"<{HOST_A}> hello from host A")
    alice.wait_for("<You> hello from host A")
    bob.type("hello from host B ☕")
    alice.wait_for(f"<{HOST_B}> hello from host B ☕")
    server.wait_for(f"<{HOST_B}> hello from host B ☕")  # the server's console shows it

    bob.type("/quit")
    assert bob.finish()[0] == 0
    alice.wait_for(f"* {HOST_B} left")
    stop(server)
    alice.wait_for("* The server is shutting down. Goodbye!")
    assert alice.finish()[0] == 0


def test_a_server_on_every_address_prints_the_one_to_use(hosts, on):
    server = on(hosts.a, "-m", "chatroom.server", "0.0.0.0", "5051")
    server.wait_for(f"From another machine: python -m chatroom.client {HOST_A} 5051")
    bob = on(hosts.b, "-m", "chatroom.client", HOST_A, "5051")  # the line it printed
    bob.wait_for("* Welcome")
    bob.type("/quit")
    assert bob.finish()[0] == 0
    stop(server)


def test_a_server_on_loopback_cannot_be_reached_from_the_other_host(hosts, on):
    server = on(hosts.a, "-m", "chatroom.server", "127.0.0.1", "5052")
    server.wait_for("start the server on 0.0.0.0 instead of 127.0.0.1")
    result = run_on(hosts, hosts.b, "-m", "chatroom.client", HOST_A, "5052")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: connection refused by {HOST_A} port 5052: is the server running, with this "
        "address and port? If it listens on 127.0.0.1, only its own machine can connect; "
        "start it on 0.0.0.0. A firewall can also refuse"]
    assert run_on(hosts, hosts.a, "-m", "chatroom.client", "127.0.0.1", "5052",
                  ).returncode == 0  # its own machine gets in (and leaves at end of input)
    stop(server)


def test_binding_to_the_other_hosts_address_lists_this_hosts_addresses(hosts):
    result = run_on(hosts, hosts.a, "-m", "chatroom.server", HOST_B, "5053")
    assert result.returncode == 1
    message = result.stderr.strip()
    assert message.startswith(f"error: {HOST_B} is not an address of this machine. "
                              f"Its addresses are: {HOST_A}"), message
    assert "127.0.0.1" in message and "use 0.0.0.0" in message
    assert "Traceback" not in result.stdout + result.stderr


def test_a_network_that_drops_packets_gives_the_connect_timeout(hosts, on):
    server = on(hosts.a, "-m", "chatroom.server", "0.0.0.0", "5054")
    server.wait_for("Chat server listening")
    hosts.drop_everything_from_b_to_a()
    try:
        result = run_on(hosts, hosts.b, "-m", "chatroom.client", HOST_A, "5054", timeout=30)
    finally:
        hosts.restore_b_to_a()
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: no answer from {HOST_A} port 5054 within 5 seconds: check the address, that "
        "both machines are on the same network, and the firewall on the server's machine")
    bob = on(hosts.b, "-m", "chatroom.client", HOST_A, "5054")
    bob.wait_for("* Welcome")
    bob.type("/quit")
    assert bob.finish()[0] == 0
    stop(server)
