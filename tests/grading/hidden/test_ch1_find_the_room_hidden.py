"""Hidden checks of challenge 1 (find the room): they ship only with the instructor's kit."""

import pytest

from test_ch1_find_the_room import SCRIPT, expect_knock, ports, refusal  # noqa: F401


@pytest.mark.points(2)
def test_hidden_a_trickling_port_is_silent_within_the_timeout(sandbox, ports):
    trickle = ports(b"* Welcome to the chat room, 127.0.0.1!" * 4, step=1, pause=0.03)
    expect_knock(sandbox, trickle.port, ("silent", ""),
                 "a port that sends one byte every 30 ms, and no whole line within the timeout")


@pytest.mark.points(1)
def test_hidden_a_hostile_first_line_is_made_printable(sandbox, ports):
    hostile = ports(b"* Welcome \x1b[2J\x07caf\xe9!\r\n")
    expect_knock(sandbox, hostile.port, ("chat room", "* Welcome ?[2J?caf\ufffd!"),
                 "a port whose first line is b'* Welcome \\x1b[2J\\x07caf\\xe9!\\r\\n' (an escape "
                 "code, a bell, a byte that is not UTF-8)")


@pytest.mark.points(1)
def test_hidden_a_first_line_too_long_is_other(sandbox, ports):
    long_line = ports(b"* " + b"y" * 5000 + b"\n")
    took = expect_knock(sandbox, long_line.port, ("other", ""),
                        "a port whose first line is '* ' and 5000 more bytes")
    endless = ports(b"* " + b"z" * 3000, then="wait")  # no end of line, and the port stays open
    took = expect_knock(sandbox, endless.port, ("other", ""),
                        "a port that sends '* ' and 3000 bytes with no end of line", timeout=3.0)
    assert took < 1.5, (
        f"past MAX_GREETING bytes with no end of line, a knock knows it is no chat room: it "
        f"should not wait for its whole timeout of 3 s (it took {took:.2f} s)")
    longest = ports(b"* " + b"w" * 1022 + b"\n")
    expect_knock(sandbox, longest.port, ("chat room", "* " + "w" * 1022),
                 "a port whose first line is 1024 bytes long (MAX_GREETING)")


@pytest.mark.points(1)
def test_hidden_a_reset_is_other(sandbox, ports):
    reset = ports(b"* Wel", then="reset")
    expect_knock(sandbox, reset.port, ("other", ""),
                 "a port that sends '* Wel', then resets the connection")


@pytest.mark.points(1)
def test_hidden_ports_at_the_edges(sandbox):
    for text, wanted in (("65535", [65535]), ("1", [1]), ("65436-65535", list(range(65436, 65536)))):
        got = sandbox.call(f"{SCRIPT}:ports", text)
        assert got == wanted, f"ports({text!r}) should be {str(wanted)[:60]}, got {str(got)[:60]}"
    for text in ("", "-", " 5050", "5048\u20135052", "5048 - 5052", "65436-65536", "1-0"):
        refusal(sandbox, text)
