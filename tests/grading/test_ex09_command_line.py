"""Exercise 9: parse_port and parse_address."""

import pytest


def refusal(call, described):
    """The ValueError that ``call()`` raises; fails, in plain words, if there is none."""
    try:
        result = call()
    except ValueError as error:
        return str(error)
    raise AssertionError(f"{described} should raise ValueError; it returned {result!r}")


@pytest.fixture(scope="module")
def ex(submission):
    return submission("ex09_command_line")


@pytest.mark.points(2)
def test_good_ports(ex):
    for text, port in (("5050", 5050), ("1", 1), ("65535", 65535)):
        got = ex.parse_port(text)
        assert got == port, f"parse_port({text!r}) should return {port}, got {got!r}"


@pytest.mark.points(3)
def test_bad_ports_raise_valueerror_naming_the_text(ex):
    for text in ("fifty", "", "0", "65536", "-1", "50.5", " 80", "\u0665\u0660"):
        message = refusal(lambda: ex.parse_port(text), f"parse_port({text!r})")
        assert repr(text) in message, (
            f"the message for parse_port({text!r}) should show {text!r}; it says {message!r}")


@pytest.mark.points(2)
def test_address_with_and_without_port(ex):
    got = ex.parse_address(["192.168.1.20", "6000"])
    assert got == ("192.168.1.20", 6000), f"parse_address(['192.168.1.20', '6000']) gave {got!r}"
    got = ex.parse_address(["192.168.1.20"])
    assert got == ("192.168.1.20", 5050), (
        f"without a port, parse_address(['192.168.1.20']) should use 5050, got {got!r}")


@pytest.mark.points(2)
def test_wrong_number_of_arguments_is_usage(ex):
    for argv in ([], ["a", "1", "extra"], [""]):
        message = refusal(lambda: ex.parse_address(argv), f"parse_address({argv!r})")
        assert message == ex.USAGE, (
            f"parse_address({argv!r}) should raise ValueError(USAGE); the message was {message!r}")


@pytest.mark.points(1)
def test_a_bad_port_in_the_address(ex):
    message = refusal(lambda: ex.parse_address(["10.0.0.1", "http"]),
                      "parse_address(['10.0.0.1', 'http'])")
    assert "'http'" in message, (
        f"parse_address(['10.0.0.1', 'http']) should pass on parse_port's message; got {message!r}")
