"""Interop day's network: a network namespace for each sandbox, as a machine of its own.

Each server's and client's sandbox gets a namespace with one address, joined by a veth
pair to the interop worker's namespace (itself new, reaching nothing outside), which
forwards between them. The kernel keeps each student to their own address: strict
reverse-path filtering drops a packet whose source is not its cable's address, so a
client cannot connect as a classmate, and a server's routes reach only the clients.
"""

import subprocess
import sys
import threading
from ipaddress import IPv4Address
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "grading"))
import isolation  # noqa: E402
import sandbox as sandboxes  # noqa: E402

# Each server and client sandbox on a /30 of its own (the worker's end .1, the sandbox's
# .2); the grader's own server and client on the worker's loopback.
SERVERS_NETWORK, CLIENTS_NETWORK = IPv4Address("10.1.0.0"), IPv4Address("10.2.0.0")
KIT_SERVER_ADDRESS, KIT_CLIENT_ADDRESS = "10.3.0.1", "10.4.0.1"
MOST_WIRES = 1 << 14  # /30s in a /16
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class Wires:
    """A network namespace for each sandbox, joined to the worker's by a veth pair.

    Each namespace is held by a process of root's (``cat`` on a pipe: it ends with the
    worker), and has one address on a /30 of its own. A client's namespace routes
    everywhere through the worker, which forwards to the servers and drops a packet
    whose source is not the address of the wire it came on (rp_filter); a server's
    routes only to the clients' network and the grader's own client, so that it reaches
    no other server and not the grader's server. Everything dies with the worker's
    network namespace.
    """

    def __init__(self):
        for setting, value in (("ipv4/ip_forward", 1), ("ipv4/conf/all/rp_filter", 1),
                               ("ipv4/conf/default/rp_filter", 1)):
            Path("/proc/sys/net", setting).write_text(f"{value}\n", encoding="ascii")
        self.ip(f"address add {KIT_SERVER_ADDRESS}/32 dev lo\n"
                f"address add {KIT_CLIENT_ADDRESS}/32 dev lo\n")
        self.wires, self.lock = 0, threading.Lock()

    @staticmethod
    def ip(batch, namespace=None):
        """Run ``ip -batch`` (in the namespace held by the process ``namespace``)."""
        command = ["ip", "-batch", "-"]
        if namespace is not None:
            command = ["nsenter", f"--net=/proc/{namespace}/ns/net", "--", *command]
        done = subprocess.run(command, input=batch, capture_output=True, text=True, timeout=30,
                              env={"PATH": SYSTEM_PATH}, cwd="/")
        if done.returncode:
            raise sandboxes.GraderFault(f"cannot wire a sandbox: {done.stderr.strip()}")

    @staticmethod
    def works():
        """True where this kernel has veth pairs (tried once, for real)."""
        return isolation._tried(["unshare", "--net", "--", "ip", "link", "add", "name", "a",
                                 "type", "veth", "peer", "name", "b"])

    def new(self, role, number):
        """(the process that holds a new namespace, wired, for student ``number``'s ``role``
        sandbox, its address). A student has the same address all day, in a sandbox started
        again too: a client that has its sandbox killed gets no fresh address, and so no
        fresh allowance of connections and lines at the servers."""
        with self.lock:
            wire, self.wires = self.wires, self.wires + 1
        if number >= MOST_WIRES:
            raise sandboxes.GraderFault("more students than the network has addresses")
        network = SERVERS_NETWORK if role == "server" else CLIENTS_NETWORK
        gateway, address = network + 4 * number + 1, network + 4 * number + 2
        holder = subprocess.Popen(["unshare", "--net", "--", "sh", "-c", "echo up; exec cat"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd="/",
                                  env={"PATH": SYSTEM_PATH})
        try:
            if holder.stdout.readline() != b"up\n":
                raise sandboxes.GraderFault("cannot make a network namespace")
            self.ip(f"link add w{wire} type veth peer name eth0 netns {holder.pid}\n"
                    f"address add {gateway}/30 dev w{wire}\nlink set w{wire} up\n")
            routes = (f"route add default via {gateway}\n" if role == "client" else
                      f"route add {CLIENTS_NETWORK}/16 via {gateway}\n"
                      f"route add {KIT_CLIENT_ADDRESS}/32 via {gateway}\n")
            self.ip(f"link set lo up\naddress add {address}/30 dev eth0\nlink set eth0 up\n"
                    + routes, namespace=holder.pid)
        except BaseException:
            self.end(holder)
            raise
        holder.wire = f"w{wire}"
        return holder, str(address)

    @staticmethod
    def end(holder):
        """Remove the veth pair, at once (its address may be given again), and let the
        namespace go."""
        if holder is not None:
            if hasattr(holder, "wire"):
                subprocess.run(["ip", "link", "delete", holder.wire], capture_output=True,
                               timeout=30, env={"PATH": SYSTEM_PATH}, cwd="/")
            holder.kill()
            holder.wait()
            for pipe in (holder.stdin, holder.stdout):
                pipe.close()


class WiredJail(isolation.Jail):
    """The grading walls, in the network namespace that ``holder`` holds."""

    def __init__(self, slot, hidden, runner_home, holder):
        super().__init__(slot, hidden, runner_home)
        self.holder = holder

    def walled(self, command):
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--",
                *super().walled(command)]
