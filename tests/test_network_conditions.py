"""The appendix's two hosts and the wire between them (notebooks/two_hosts.py), for real.

Two network namespaces, each with a TUN device whose far end is the ``Wire``, a
thread of this process that carries the packets across after a delay, loses some,
and limits the rate. The tests run real TCP between the hosts, through the real
kernel, and compare what they measure within one run (never against a fixed time
that a slow machine could miss): the delay is a lower bound the wire enforces,
and the narrow link's time is compared with the clean link's. The namespaces get
names unique to this process and lab (pid and a counter), so the tests may run
beside tests/test_lab_two_hosts.py under pytest-xdist; each test checks that
everything it made is gone afterwards. Where namespaces or TUN devices are not
allowed (not Linux, not root, no ``ip``, no /dev/net/tun), the tests are skipped
and say why.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebooks"))
import two_hosts  # noqa: E402
from two_hosts import HOST_A, PORT, TwoHosts  # noqa: E402

pytestmark = pytest.mark.timeout(60)

# Host A's end: for each connection, answer each b"\n" at once with b"\n" (a round trip),
# count the other bytes, and at the end of the input say how many came, then close.
COUNTER = """
import socket, sys
with socket.create_server((sys.argv[1], int(sys.argv[2]))) as listener:
    print("listening", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            count = 0
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                count += len(data.replace(b"\\n", b""))
                conn.sendall(b"\\n" * data.count(b"\\n"))
            conn.sendall(b"%d" % count)
"""

# Host B's end: "pings N" times the connect (one round trip) and N round trips of a
# byte; "bulk N" sends N bytes and times them until host A has counted them all.
PROBE = """
import json, socket, sys, time
host, port, what, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
start = time.monotonic()
with socket.create_connection((host, port), timeout=30) as sock:
    times = [time.monotonic() - start]
    if what == "pings":
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(n):
            start = time.monotonic()
            sock.sendall(b"\\n")
            assert sock.recv(1) == b"\\n"
            times.append(time.monotonic() - start)
        sock.shutdown(socket.SHUT_WR)
        counted = sock.recv(100)
    else:
        start = time.monotonic()
        sock.sendall(b"x" * n)
        sock.shutdown(socket.SHUT_WR)
        counted = b""
        while True:
            data = sock.recv(100)
            if not data:
                break
            counted += data
        times = [time.monotonic() - start]
print(json.dumps({"seconds": times, "counted": int(counted)}))
"""


def namespaces():
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                          timeout=30).stdout


def assert_all_gone(lab, wire, started):
    """The namespaces, the TUN devices, the wire's thread and every process: gone."""
    listed = namespaces()
    assert not [name for name in lab.names.values() if name in listed]
    for device in lab.devices.values():  # in no namespace left, nor here
        assert subprocess.run(["ip", "link", "show", "dev", device], capture_output=True,
                              timeout=30).returncode != 0
    assert wire is not None and not wire.thread.is_alive()
    for fd in (wire.fds if wire else ()):
        with pytest.raises(OSError):
            os.fstat(fd)  # the descriptors that kept the devices alive are closed
    assert all(process.poll() is not None for process in started)


@pytest.fixture
def lab():
    reason = two_hosts.why_not_here()
    if reason:
        pytest.skip(reason)
    hosts = TwoHosts()
    try:
        hosts.build()
    except OSError as problem:
        pytest.skip(f"this machine does not allow namespaces with TUN devices: {problem}")
    started = []
    hosts.python = track(hosts.python, started)
    try:
        yield hosts
    finally:
        hosts.remove()
    assert_all_gone(hosts, hosts.wire, started)


def track(python, started):
    """``TwoHosts.python`` that also notes each process, to check that it has ended."""
    def started_python(*arguments):
        program = python(*arguments)
        started.append(program.process)
        return program
    return started_python


def counter(lab):
    program = lab.python("a", "-c", COUNTER, HOST_A, str(PORT))
    program.wait_for("listening")
    return program


def probe(lab, what, n):
    done = lab.run("b", sys.executable, "-c", PROBE, HOST_A, str(PORT), what, str(n), timeout=45)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_delay_shows_in_every_tcp_round_trip(lab):
    counter(lab)
    clean = probe(lab, "pings", 5)
    lab.wire.set(delay=0.030)  # 30 ms each way
    delayed = probe(lab, "pings", 5)
    assert clean["counted"] == delayed["counted"] == 0
    # The handshake (the first time) and each ping cross the wire both ways: 60 ms at least.
    assert min(delayed["seconds"]) >= 2 * 0.030
    assert min(clean["seconds"]) < min(delayed["seconds"]) / 3, (clean, delayed)


def test_lost_packets_are_resent_by_tcp_and_every_byte_arrives(lab):
    counter(lab)
    lab.wire.set(loss=0.10)
    before = lab.retransmissions()
    sent = probe(lab, "bulk", 100_000)
    after = lab.retransmissions()
    assert sent["counted"] == 100_000  # TCP loses nothing
    assert lab.wire.counts()["lost"] > 0
    assert after["b"] > before["b"], "host B's kernel must have resent what the wire lost"


def test_a_narrow_link_caps_the_throughput_and_its_full_queue_drops(lab):
    counter(lab)
    clean = probe(lab, "bulk", 40_000)["seconds"][0]
    lab.wire.set(rate=20_000, queue_bytes=4_500)  # 160 kbit/s, three full packets of queue
    narrow = probe(lab, "bulk", 40_000)
    assert narrow["counted"] == 40_000
    # The link carries 20,000 bytes a second at most, headers included: 2 s at least.
    assert narrow["seconds"][0] >= 40_000 / 20_000
    assert clean < narrow["seconds"][0] / 3, (clean, narrow)
    assert lab.wire.counts()["overflowed"] > 0, "TCP's window outgrew the queue: some drops"


def test_the_chat_room_across_the_wire_loses_no_line(lab):
    server = lab.chat_server()
    lab.wire.set(delay=0.020, loss=0.05)
    run = two_hosts.chat_latencies(lab, lines=30, rate=20)
    assert run["never came"] == 0 and len(run["latency"]) == 30
    assert min(run["latency"]) >= 2 * 20  # typed on host B, relayed on A, read on B
    server.stop()
    assert server.process.returncode == 0


def test_everything_is_removed_even_after_a_failure_inside():
    reason = two_hosts.why_not_here()
    if reason:
        pytest.skip(reason)
    hosts = TwoHosts()
    with pytest.raises(RuntimeError, match="a failure inside"):
        with hosts:
            sleeper = hosts.python("a", "-c", "import time; print('up', flush=True); "
                                   "time.sleep(60)")
            sleeper.wait_for("up")
            assert all(name in namespaces() for name in hosts.names.values())
            raise RuntimeError("a failure inside")
    assert_all_gone(hosts, hosts.wire, [sleeper.process])
    hosts.remove()  # a second time: nothing left to do, and no error
