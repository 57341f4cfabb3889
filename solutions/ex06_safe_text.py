"""Exercise 6, for lesson 6 (what goes wrong): text that is safe to relay, and /nick.

Write the bodies of ``clean_text`` and ``valid_nickname``. Check your work with
    python tests/grade.py --student -k ex06
"""

import re


def clean_text(text):
    """``text`` without terminal escape sequences or control characters.

    Remove:
    - CSI sequences: ESC "[", then any of the characters "0" to "?", then any
      of " " to "/", then one final character from "@" to "~" ("\\x1b[2J",
      "\\x1b[31m");
    - OSC sequences: ESC "]", then anything up to and including a BEL
      ("\\x07") or ESC "\\\\" ("\\x1b]0;a window title\\x07");
    - any other ESC with the one character after it;
    - control characters: U+0000 to U+001F, U+007F to U+009F, and the
      bidirectional overrides U+202A to U+202E and U+2066 to U+2069.
    A tab becomes one space first. Everything else, accents and emoji
    included, stays as it is.
    """
    ### BEGIN SOLUTION
    escape = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[\s\S]?")
    control = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
    return control.sub("", escape.sub("", text.replace("\t", " ")))
    ### END SOLUTION


def valid_nickname(name, taken):
    """True if ``/nick name`` may be granted.

    A nickname is a letter (A-Z or a-z), then up to 19 more characters, each
    a letter, a digit (0-9), "_" or "-". It must not be in ``taken`` (the names
    of the others in the room), ignoring case: "Alice" is taken when "alice" is.
    """
    ### BEGIN SOLUTION
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,19}", name):
        return False
    return name.lower() not in {other.lower() for other in taken}
    ### END SOLUTION
