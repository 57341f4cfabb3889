"""See the packets: capture a short TCP exchange on loopback, and read the sockets' states.

    import packets
    with packets.capture("lesson1_handshake", {listener: "server"}) as seen:
        ...                       # connect, send, close: the exchange to watch
    seen.show()                   # one row per TCP segment
    packets.states({listener: "server", client: "client"})   # e.g. client → server  ESTABLISHED
    packets.wait_for(client, listener, "FIN_WAIT2")          # until a state is reached (bounded)

A live capture needs Linux and root (an AF_PACKET socket sees every frame on "lo").
Elsewhere ``show()`` prints a capture of the same exchange that was recorded on Linux
and stored in captures/NAME.json, and says so in one line. Record them again with
CHATROOM_RECORD_CAPTURES=1 in the environment, as root on Linux.
"""

import collections
import ctypes
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

CAPTURES = Path(__file__).resolve().parent / "captures"
FLAGS = [(0x02, "SYN"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK")]
STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
          6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}
PACKET_OUTGOING = 4       # on "lo" each frame is seen leaving and arriving: keep one copy
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # the kernel's arrival time of a frame


SO_ATTACH_FILTER = 26
# Classic BPF, the kernel's filter language (what tcpdump compiles "tcp port P" into).
LOAD_HALF, LOAD_BYTE, LOAD_HALF_AFTER_X = 0x28, 0x30, 0x48  # A = 2 bytes, 1 byte, 2 bytes at X+k
LOAD_IP_LENGTH, JUMP_IF_EQUAL, JUMP, RETURN = 0xB1, 0x15, 0x05, 0x06  # X = IPv4 header's length


def only_ports(ports):
    """A filter that makes the kernel keep only TCP segments from or to ``ports``, so
    that other programs' traffic on "lo" never crowds ours out of the socket's queue.
    A line is (instruction, value) or (JUMP_IF_EQUAL, value, if equal, if not): where
    to go is a label below, or None for the next line."""
    checks = [(JUMP_IF_EQUAL, port, "keep", None) for port in sorted(ports)]
    program = [
        (LOAD_HALF, 12),                                       # the Ethernet type
        (JUMP_IF_EQUAL, 0x86DD, "ipv6", None), (JUMP_IF_EQUAL, 0x0800, None, "drop"),
        (LOAD_BYTE, 23), (JUMP_IF_EQUAL, 6, None, "drop"),     # IPv4: is it TCP?
        (LOAD_IP_LENGTH, 14),                                  # X: where TCP starts
        (LOAD_HALF_AFTER_X, 14), *checks,                      # its source port
        (LOAD_HALF_AFTER_X, 16), *checks, (JUMP, "drop"),      # its destination port
        "ipv6", (LOAD_BYTE, 20), (JUMP_IF_EQUAL, 6, None, "drop"),  # IPv6: TCP? (no options)
        (LOAD_HALF, 54), *checks, (LOAD_HALF, 56), *checks,
        "drop", (RETURN, 0),                                   # keep 0 bytes of the frame
        "keep", (RETURN, 0x40000)]                             # keep it whole
    labels, lines = {}, []
    for line in program:
        if isinstance(line, str):
            labels[line] = len(lines)
        else:
            lines.append(line)

    def skip(target, number):  # jumps say how many lines to skip
        return labels[target] - number - 1 if target else 0

    code = b""
    for number, line in enumerate(lines):
        if line[0] == JUMP:
            code += struct.pack("HBBI", JUMP, 0, 0, skip(line[1], number))
        elif line[0] == JUMP_IF_EQUAL:
            code += struct.pack("HBBI", JUMP_IF_EQUAL, skip(line[2], number),
                                skip(line[3], number), line[1])
        else:
            code += struct.pack("HBBI", line[0], 0, 0, line[1])
    _filters.append(ctypes.create_string_buffer(code))  # alive until setsockopt has copied it
    return struct.pack("HL", len(lines), ctypes.addressof(_filters[-1]))


_filters = []


def port_of(end):
    """The port of an end: a number, an (address, port) tuple, or an open socket's own port
    (a closed socket has none: name sockets while they are open)."""
    if isinstance(end, int):
        return end
    return end[1] if isinstance(end, tuple) else end.getsockname()[1]


def end_of(end):
    """(address, port) of an end; address None for a bare port, or a socket that listens
    on every address: then any segment to or from that port is ours."""
    if isinstance(end, int):
        return None, end
    address, port = (end if isinstance(end, tuple) else end.getsockname())[:2]
    address = address.replace("::ffff:", "")  # an IPv4 client of a dual-stack socket
    return (None if address in ("", "0.0.0.0", "::") else address), port


def addresses(frame):
    """(source, destination) IP addresses of a frame that parse() read."""
    if struct.unpack("!H", frame[12:14])[0] == 0x0800:
        return socket.inet_ntop(socket.AF_INET, frame[26:30]), socket.inet_ntop(
            socket.AF_INET, frame[30:34])
    return socket.inet_ntop(socket.AF_INET6, frame[22:38]), socket.inet_ntop(
        socket.AF_INET6, frame[38:54])


def why_not_live():
    """None when this machine can capture live, else why not (a few words)."""
    if os.environ.get("CHATROOM_STORED_CAPTURES"):
        return "CHATROOM_STORED_CAPTURES is set"
    if not sys.platform.startswith("linux"):
        return "this is not Linux"
    if os.geteuid() != 0:
        return "this notebook does not run as root"
    return None


def parse(frame):
    """(src port, dst port, flags, seq, ack, payload length, window, window shift) of
    an Ethernet frame that carries TCP, else None. We read the headers only."""
    kind = struct.unpack("!H", frame[12:14])[0]  # Ethernet: 6+6 bytes of MAC, then type
    ip = frame[14:]
    if kind == 0x0800 and ip[9] == 6:  # IPv4, protocol 6 = TCP
        header = (ip[0] & 0x0F) * 4  # IHL: the IPv4 header's length in 32-bit words
        size = struct.unpack("!H", ip[2:4])[0] - header  # total length - IP header
    elif kind == 0x86DD and ip[6] == 6:  # IPv6, next header 6 = TCP (no extension headers)
        header, size = 40, struct.unpack("!H", ip[4:6])[0]
    else:
        return None
    tcp = ip[header:]
    # TCP: ports, sequence number, acknowledgement number, data offset, flags, window.
    src, dst, seq, ack, offset, flags, window = struct.unpack("!HHIIBBH", tcp[:16])
    options, shift, i = tcp[20:(offset >> 4) * 4], None, 0
    while i < len(options) and options[i] != 0:  # kind 0: end of options, kind 1: padding
        if options[i] == 3:  # window scale (SYNs only): windows are shifted left by this
            shift = options[i + 2]
        i += 1 if options[i] == 1 else max(options[i + 1], 2)
    return src, dst, flags, seq, ack, size - (offset >> 4) * 4, window, shift


class Capture:
    """The TCP segments to and from some ports during a ``with`` block (see capture())."""

    def __init__(self, name, roles, other="client", settle=0.1, seconds=10, limit=200,
                 folder=CAPTURES):
        self.name, self.other, self.folder = name, other, Path(folder)
        self.roles = {port_of(end): role for end, role in roles.items()}
        self.ends = {end_of(end) for end in roles}  # a segment to or from one is kept
        self.ports = {port for _, port in self.ends}  # for the kernel's filter
        self.settle, self.seconds, self.limit = settle, seconds, limit
        self.frames, self.rows, self.why_stored = [], None, why_not_live()
        # frames the kernel's filter let through to us, by ((address, port) from, to)
        self.delivered = collections.Counter()

    def call(self, end, role):
        """Name the other end's port (a socket or a number): ``seen.call(b, "b")``."""
        self.roles[port_of(end)] = role

    def __enter__(self):
        if self.why_stored is None:
            try:  # protocol 0: no frame comes in until bind() below names one
                self.raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            except OSError as error:
                self.why_stored = f"a raw socket is not allowed here ({error.strerror})"
        if self.why_stored is None:
            self.raw.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            # The filter first, then frames: a frame queued before it would be anyone's.
            self.raw.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, only_ports(self.ports))
            self.raw.bind(("lo", 3))  # ETH_P_ALL (3): every protocol; the frames of "lo" only
            self.raw.settimeout(self.settle / 2)
            self.done = threading.Event()
            self.reader = threading.Thread(target=self.read, daemon=True)
            self.reader.start()
        return self

    def read(self):
        """Keep our segments until the block has ended and "lo" is quiet for `settle` s."""
        deadline, quiet_since = time.monotonic() + self.seconds, None
        with self.raw:
            while time.monotonic() < deadline and len(self.frames) < self.limit:
                try:
                    frame, ancillary, _, address = self.raw.recvmsg(128, 64)  # headers only
                except socket.timeout:
                    frame = None
                segment = parse(frame) if frame else None
                if segment:
                    source, destination = addresses(frame)
                    self.delivered[(source, segment[0]), (destination, segment[1])] += 1
                    if address[2] != PACKET_OUTGOING and self.ours(frame, segment):
                        seconds, nanoseconds = struct.unpack("qq", ancillary[0][2][:16])
                        self.frames.append((seconds + nanoseconds / 1e9,) + segment)
                        quiet_since = None
                if self.done.is_set():
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since >= self.settle:
                        return

    def ours(self, frame, segment):
        """True when one end of the segment is one of ours: the same port, and the same
        address where we know it (another program may use our port on another address)."""
        source, destination = addresses(frame)
        return bool({(source, segment[0]), (None, segment[0]), (destination, segment[1]),
                     (None, segment[1])} & self.ends)

    def __exit__(self, *exception):
        if self.why_stored is None:
            self.done.set()
            self.reader.join(self.seconds + 1)
            self.rows = self.number(self.frames)
            if os.environ.get("CHATROOM_RECORD_CAPTURES"):
                self.save()
        else:
            self.rows = load(self.name, self.folder)

    def number(self, frames):
        """Rows as Wireshark numbers them: time from the first segment, seq and ack
        relative to each side's first sequence number, windows scaled."""
        first, shifts, rows = {}, {}, []
        for t, src, dst, flags, seq, ack, size, window, shift in frames:
            first.setdefault((src, dst), seq)  # a SYN's seq is the side's start (ISN)
            if flags & 0x10:
                first.setdefault((dst, src), ack)  # the other side's start, if not seen yet
            if flags & 0x02:
                shifts[(src, dst)] = shift or 0
            elif window:  # windows in SYNs are never scaled
                window <<= shifts.get((src, dst), 0)
            rows.append({"time": round(t - frames[0][0], 4), "from": src, "to": dst,
                         "flags": "+".join(name for bit, name in FLAGS if flags & bit),
                         "seq": (seq - first[(src, dst)]) % 2**32,
                         "ack": (ack - first[(dst, src)]) % 2**32 if flags & 0x10 else None,
                         "len": size, "window": window})
        for row in rows:  # ports become roles: a stored capture has no ports
            row["from"] = self.roles.get(row["from"], self.other)
            row["to"] = self.roles.get(row["to"], self.other)
        return [row for row in rows if row["from"] and row["to"]]

    def save(self, folder=None):
        """Store this capture as captures/NAME.json, for machines that cannot capture."""
        path = Path(folder or self.folder) / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"name": self.name, "recorded on": "Linux, loopback",
                                    "rows": self.rows}, indent=1) + "\n", encoding="utf-8")

    def show(self, step=0.1, window=False, acks=True):
        """Print the segments as a table. Times are rounded down to `step` seconds (0.01
        shows a 40 ms delay); `window=True` prints the window itself, else 0 or "open";
        `acks=False` leaves out the segments that carry only an ACK."""
        if self.why_stored is not None:
            print(f"(not live: {self.why_stored}. This capture of the same exchange was "
                  "recorded on Linux and is stored with the kit.)")
        if self.rows is None:
            print(f"no capture: no file {self.name}.json in {self.folder.name}/")
            return
        print(table(self.rows, step, window, acks))

    def draw(self, acks=True):
        """A sequence diagram: time runs down, one arrow per segment."""
        import matplotlib.pyplot as plt
        rows = [row for row in self.rows or [] if acks or not pure_ack(row)]
        left, right = (rows[0]["from"], rows[0]["to"]) if rows else ("", "")
        fig, ax = plt.subplots(figsize=(6, 0.4 * len(rows) + 0.8), dpi=80)
        for x, role in ((0, left), (1, right)):
            ax.plot([x, x], [-len(rows), 0.4], color="lightgray", zorder=0)
            ax.text(x, 0.6, role, ha="center", fontweight="bold")
        for y, row in enumerate(rows):
            start = 0 if row["from"] == left else 1
            ax.annotate("", xy=(1 - start, -y - 0.8), xytext=(start, -y),
                        arrowprops=dict(arrowstyle="->", color="tab:red" if "RST" in row["flags"]
                                        else "tab:blue"))
            label = (f"{row['flags']}  seq {row['seq']}"
                     + ("" if row["ack"] is None else f"  ack {row['ack']}")
                     + (f"  len {row['len']}" if row["len"] else ""))
            ax.text(0.5, -y - 0.3, label, ha="center", fontsize=9, backgroundcolor="white")
        ax.set_xlim(-0.3, 1.3)
        ax.axis("off")
        plt.show()


def capture(name, roles, other="client", **options):
    """A Capture of the TCP segments to and from the ports in `roles` ({socket or port:
    role}); any other port is called `other` (None: leave those segments out)."""
    return Capture(name, roles, other, **options)


def load(name, folder=CAPTURES):
    """The rows of the stored capture NAME, or None if there is none."""
    path = Path(folder) / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))["rows"] if path.exists() else None


def pure_ack(row):
    return row["flags"] == "ACK" and row["len"] == 0


def table(rows, step=0.1, window=False, acks=True):
    """The rows as text: #, time, direction, flags, seq, ack, len, window."""
    shown = [row for row in rows if acks or not pure_ack(row)]
    width = max([len(f"{row['from']} → {row['to']}") for row in shown] + [9])
    digits = max(0, -int(f"{step:e}".split("e")[1]))
    lines = [f"{'#':>3}  {'time':>5}  {'direction':<{width}}  {'flags':<11} {'seq':>6} "
             f"{'ack':>6} {'len':>6}  window"]
    for number, row in enumerate(shown, 1):
        time_ = f"{int(row['time'] / step + 1e-9) * step:.{digits}f}"
        ack = "" if row["ack"] is None else row["ack"]
        win = row["window"] if window or not row["window"] else "open"
        lines.append(f"{number:>3}  {time_:>5}  {row['from'] + ' → ' + row['to']:<{width}}  "
                     f"{row['flags']:<11} {row['seq']:>6} {ack:>6} {row['len']:>6}  {win}")
    if not acks:
        lines.append("(segments that carry only an ACK are not shown)")
    return "\n".join(lines)


def states(roles, other=None):
    """Print the state of each connection between the ports in `roles` ({socket or port:
    role}), e.g. "client → server  ESTABLISHED", one line each, sorted. Linux: read from
    /proc/net/tcp and tcp6 (no root needed); elsewhere from `netstat -an`."""
    roles = {port_of(end): role for end, role in roles.items()}
    found = []
    for local, remote, state in sockets():
        if local in roles and remote and (remote in roles or other):
            found.append(f"{roles[local]} → {roles.get(remote, other)}  {state}")
    print("\n".join(sorted(found)) or "no connection between them")


def state(local, remote):
    """The state of the socket from port `local` to port `remote` (sockets or numbers), or
    None: for waiting until a state is reached, e.g. the FIN_WAIT2 that follows FIN_WAIT1."""
    local, remote = port_of(local), port_of(remote)
    return next((state for here, there, state in sockets() if (here, there) == (local, remote)),
                None)


def wait_for(local, remote, wanted, seconds=2.0):
    """Wait, at most `seconds`, until that socket is in state `wanted`; say if it is."""
    deadline = time.monotonic() + seconds
    while state(local, remote) != wanted and time.monotonic() < deadline:
        threading.Event().wait(0.005)
    return state(local, remote) == wanted


def sockets():
    """(local port, remote port, state) of every TCP socket on this machine."""
    if Path("/proc/net/tcp").exists():  # Linux: one line per socket, ports and state in hex
        for name in ("/proc/net/tcp", "/proc/net/tcp6"):
            if Path(name).exists():
                for line in Path(name).read_text().splitlines()[1:]:
                    local, remote, state = line.split()[1:4]
                    yield int(local[-4:], 16), int(remote[-4:], 16), STATES.get(int(state, 16))
        return
    try:  # macOS: tcp4 0 0 127.0.0.1.5050 127.0.0.1.61234 ESTABLISHED; Windows: "TCP a:p b:p STATE"
        output = subprocess.run(["netstat", "-an"], capture_output=True, text=True,
                                timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"cannot read the sockets' states here: netstat failed ({error})")
        return
    for fields in (line.split() for line in output.splitlines()):
        ports = [re.search(r"[.:](\d+)$", field) for field in fields[1:5]]
        ports = [int(port.group(1)) for port in ports if port]
        if fields and fields[0].lower().startswith("tcp") and len(ports) == 2:
            yield ports[0], ports[1], fields[-1].replace("_WAIT_", "_WAIT")
