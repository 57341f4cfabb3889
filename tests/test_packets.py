"""notebooks/packets.py on real loopback: live captures (Linux, root), the sockets' states
(/proc/net/tcp, no root), and the stored captures that stand in where capture is impossible.

Safe beside other tests on loopback: every listener takes port 0, and a capture keeps only
the segments of its own ports; stored captures are written under tmp_path.
"""

import json
import socket
import sys
import threading
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))
import packets  # noqa: E402

STORED = sorted((NOTEBOOKS / "captures").glob("lesson*.json"))  # packets.py's; others store more


def can_capture():
    if packets.why_not_live():
        return False
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)).close()
    except OSError:
        return False
    return True


live = pytest.mark.skipif(not can_capture(), reason="live capture needs Linux and root")
linux = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc/net/tcp")


@pytest.fixture
def listener():
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(2)
        yield server


def connected(listener):
    client = socket.create_connection(listener.getsockname(), timeout=2)
    server_side, _ = listener.accept()
    server_side.settimeout(2)
    return client, server_side


def handshake_data_fin(listener, name, folder):
    """Connect, send 5 bytes, close from both sides, each step waited for."""
    with packets.capture(name, {listener: "server"}, folder=folder) as seen:
        client, server_side = connected(listener)
        client.sendall(b"hello")
        assert server_side.recv(100) == b"hello"
        client.close()
        assert server_side.recv(100) == b""
        server_side.close()
    return seen


def roles_port(roles, role):
    return next(packets.port_of(end) for end, name in roles.items() if name == role)


def flags(seen):
    return [(row["from"], row["flags"], row["len"]) for row in seen.rows]


@live
def test_a_live_capture_shows_the_handshake_the_data_and_the_fins(listener, tmp_path, capsys):
    seen = handshake_data_fin(listener, "handshake", tmp_path)
    got = flags(seen)
    assert got[:3] == [("client", "SYN", 0), ("server", "SYN+ACK", 0), ("client", "ACK", 0)], got
    assert ("client", "PSH+ACK", 5) in got, got
    assert ("client", "FIN+ACK", 0) in got and ("server", "FIN+ACK", 0) in got, got
    assert not any("RST" in flag for _, flag, _ in got), got
    syn_ack = seen.rows[1]
    assert (syn_ack["seq"], syn_ack["ack"]) == (0, 1), "relative seq/ack, as Wireshark shows"
    seen.show()
    table = capsys.readouterr().out
    assert "client → server  SYN " in table and "(not live" not in table, table
    assert str(listener.getsockname()[1]) not in table, "a table shows roles, never ports"


@live
def test_the_same_exchange_prints_the_same_table_every_time(listener, tmp_path):
    tables = [packets.table(handshake_data_fin(listener, f"again{n}", tmp_path).rows)
              for n in range(3)]
    assert tables[0] == tables[1] == tables[2], tables


@live
def test_the_kernel_keeps_only_our_segments_while_others_flood_loopback(listener, tmp_path):
    """The capture's filter runs in the kernel: a flood between two other sockets reaches
    neither the table nor the capture's queue, so it cannot crowd our segments out."""
    with socket.create_server(("127.0.0.1", 0)) as other:
        noisy = socket.create_connection(other.getsockname(), timeout=2)
        sink, _ = other.accept()
        sink.settimeout(2)
        with packets.capture("filtered", {listener: "server"}, folder=tmp_path) as seen:
            for _ in range(200):  # 200 segments of noise, each read as it comes
                noisy.sendall(b"x" * 1000)
                sink.recv(1000)
            client, server_side = connected(listener)
            ours = (client.getsockname(), listener.getsockname())
            client.close()
            server_side.close()
        flood = (noisy.getsockname(), other.getsockname())
        noisy.close()
        sink.close()
    assert {row["from"] for row in seen.rows} == {"client", "server"}, seen.rows
    # Each of our segments is seen twice on "lo" (leaving and arriving); none of the flood.
    # (Other programs' segments with our port number, on other addresses, may pass too.)
    assert seen.delivered[ours] + seen.delivered[ours[::-1]] == 2 * len(seen.rows), seen.delivered
    assert seen.delivered[flood] == seen.delivered[flood[::-1]] == 0, seen.delivered[flood]
    assert all(ours[1][1] in (source[1], destination[1]) for source, destination in seen.delivered), \
        seen.delivered


@live
@linux
def test_our_port_on_another_address_is_someone_elses(listener, tmp_path):
    """Ports are per address: a busy machine may use our port number on 127.0.0.2. Those
    segments are not ours, and the table leaves them out."""
    port = listener.getsockname()[1]
    with socket.create_server(("127.0.0.2", port)) as theirs:
        theirs.settimeout(2)
        with packets.capture("someone_elses", {listener: "server"}, folder=tmp_path) as seen:
            clients = []
            for server in (theirs, listener):
                client = socket.create_connection(server.getsockname(), timeout=2)
                accepted, _ = server.accept()
                clients.append((client.getsockname(), server.getsockname()))
                client.close()
                accepted.close()
    kinds = [row["flags"] for row in seen.rows]
    assert kinds.count("SYN") == 1, seen.rows  # ours only
    theirs_seen, ours_seen = (seen.delivered[ends] + seen.delivered[ends[::-1]] for ends in clients)
    assert theirs_seen > 0, seen.delivered  # the kernel's filter let theirs in: same port
    assert ours_seen == 2 * len(seen.rows), seen.delivered


@live
@linux
def test_closing_with_unread_data_sends_a_reset_on_linux(listener, tmp_path):
    with packets.capture("reset", {listener: "server"}, folder=tmp_path) as seen:
        client, server_side = connected(listener)
        client.sendall(b"you will never read this")
        server_side.recv(100, socket.MSG_PEEK)  # arrived, and left unread
        server_side.close()
        with pytest.raises(ConnectionResetError):
            client.recv(100)
        client.close()
    got = flags(seen)
    assert ("server", "RST+ACK", 0) in got, got
    assert not any("FIN" in flag for _, flag, _ in got), got


@linux
def test_states_show_established_then_close_wait_on_the_side_that_has_not_closed(
        listener, capsys):
    client, server_side = connected(listener)
    with server_side:
        roles = {listener: "server", packets.port_of(client): "client"}
        packets.states(roles)
        assert capsys.readouterr().out.splitlines() == [
            "client → server  ESTABLISHED", "server → client  ESTABLISHED"]
        client.close()
        assert server_side.recv(100) == b""  # the FIN has arrived
        ends = (roles_port(roles, "client"), listener.getsockname()[1])
        for _ in range(100):  # the server's ACK of that FIN may wait for a delayed-ACK timer
            if packets.state(*ends) == "FIN_WAIT2":
                break
            threading.Event().wait(0.01)
        packets.states(roles)
        assert capsys.readouterr().out.splitlines() == [
            "client → server  FIN_WAIT2", "server → client  CLOSE_WAIT"]


@live
def test_the_stored_capture_prints_the_live_table_after_one_line(
        listener, tmp_path, capsys, monkeypatch):
    handshake_data_fin(listener, "stored", tmp_path).show()
    shown_live = capsys.readouterr().out
    monkeypatch.setenv("CHATROOM_RECORD_CAPTURES", "1")  # the live capture stores itself
    recorded = handshake_data_fin(listener, "stored", tmp_path)
    assert (tmp_path / "stored.json").exists()
    monkeypatch.delenv("CHATROOM_RECORD_CAPTURES")
    monkeypatch.setenv("CHATROOM_STORED_CAPTURES", "1")  # as if not root, or not Linux
    replayed = handshake_data_fin(listener, "stored", tmp_path)
    assert replayed.why_stored and replayed.rows == recorded.rows
    replayed.show()
    note, *table = capsys.readouterr().out.splitlines()
    assert "recorded on Linux" in note and "stored with the kit" in note, note
    assert "\n".join(table) + "\n" == shown_live


def test_a_missing_stored_capture_says_so_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CHATROOM_STORED_CAPTURES", "1")
    with packets.capture("nothing_here", {1: "server"}, folder=tmp_path) as seen:
        pass
    seen.show()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "no capture" in lines[1], lines


@pytest.mark.parametrize("path", STORED, ids=[path.stem for path in STORED])
def test_every_stored_capture_loads_and_prints(path, capsys, monkeypatch):
    monkeypatch.setenv("CHATROOM_STORED_CAPTURES", "1")
    with packets.capture(path.stem, {1: "server"}) as seen:
        pass
    seen.show()
    lines = capsys.readouterr().out.splitlines()
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    assert rows and len(lines) >= len(rows) + 2, lines  # the note, the header, the rows
    assert lines[1].split()[:3] == ["#", "time", "direction"], lines
