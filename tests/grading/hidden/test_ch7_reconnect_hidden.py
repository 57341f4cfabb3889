"""Hidden checks of challenge 7 (reconnecting): they ship only with the instructor's kit."""

import pytest

from test_ch7_reconnect import (CLOSED, FIRST, SECONDS, WELCOME, expect, giving_up, rename,  # noqa: F401
                                session, trying)


@pytest.mark.points(1)
def test_hidden_the_wait_doubles_up_to_its_longest_and_starts_again(session):
    chat = session(retries=4, first_delay=0.02, longest_delay=0.05)
    chat.start()
    chat.first.say(WELCOME)
    chat.first.hang_up()
    second = chat.accept()
    assert second is not None, f"the client did not come back within {SECONDS:g} s"
    second.say(WELCOME)
    second.hang_up()  # a second outage: the waits start again from first_delay
    third = chat.accept()
    assert third is not None, f"after a second outage, the client did not come back within {SECONDS:g} s"
    third.say(WELCOME)
    chat.listener.close()
    third.hang_up()
    screen = chat.finish("a third outage, with no server to come back to")
    tries = [line for line in screen if "Reconnecting" in line or "giving up" in line]
    wanted = [trying(0.02, 1, 4), trying(0.02, 1, 4), trying(0.02, 1, 4), trying(0.04, 2, 4),
              trying(0.05, 3, 4), trying(0.05, 4, 4), giving_up(4)]
    assert tries == wanted, (
        f"three outages (the client came back after the first two, on its first try; then no "
        f"server), with first_delay 0.02 and longest_delay 0.05: the screen should say {wanted}, "
        f"it says {tries}")


@pytest.mark.points(1)
def test_hidden_the_name_is_the_one_the_server_confirmed(session):
    chat = session()
    chat.start()
    chat.first.say(WELCOME)
    chat.type("/nick alice")
    expect(chat.first, "/nick alice", "typing '/nick alice'")
    chat.first.say("* the nickname alice is taken: it looks like alice")
    rename(chat.first, chat, "bob")
    chat.type("/nick carol")
    expect(chat.first, "/nick carol", "typing '/nick carol'")
    chat.first.say("* the nickname carol is taken: it looks like carol", "<carol> * you are now eve")
    chat.first.hang_up()
    second = chat.accept()
    assert second is not None, f"the client did not come back within {SECONDS:g} s"
    expect(second, "/nick bob", "the server refused alice, confirmed bob, refused carol, then "
                                "closed: the client comes back as bob")
    chat.type("/quit")
    expect(second, "/quit", "typing '/quit'")
    second.hang_up()
    chat.finish("'/quit'")


@pytest.mark.points(1)
def test_hidden_no_name_no_nick(session):
    chat = session()
    chat.start()
    chat.first.say(WELCOME)
    chat.first.hang_up()
    second = chat.accept()
    assert second is not None, f"the client did not come back within {SECONDS:g} s"
    second.say(WELCOME)
    chat.type("hello")
    expect(second, "hello", "coming back with no name confirmed (no /nick), and typing 'hello'")
    chat.type("/quit")
    expect(second, "/quit", "typing '/quit'")
    second.hang_up()
    chat.finish("'/quit'")


@pytest.mark.points(1)
def test_hidden_nothing_of_the_old_connection_leaks(session):
    chat = session()
    chat.start()
    chat.first.say(WELCOME)
    chat.first.send_raw(b"<bob> half a li")
    chat.first.hang_up()
    second = chat.accept()
    assert second is not None, f"the client did not come back within {SECONDS:g} s"
    second.send_raw(b"ne\n" + WELCOME.encode() + b"\n")
    chat.type("/quit")
    expect(second, "/quit", "typing '/quit'")
    second.hang_up()
    screen = chat.finish("'/quit'")
    wanted = [WELCOME, "<bob> half a li", CLOSED, trying(FIRST, 1), "ne", WELCOME]
    assert screen[:6] == wanted, (
        f"the old server's unfinished '<bob> half a li' is shown once, and the new server's "
        f"first line is its own: the screen should start with {wanted}, it shows {screen}")
