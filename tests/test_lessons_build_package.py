"""The lessons build the package: every definition in chatroom/ is shown in a lesson.

The mechanism (marked cells) is described in tests/sync_lessons.py, which
also copies changed package code into the lessons.
"""

import difflib

import pytest

from sync_lessons import lesson_definitions, package_definitions

PACKAGE = package_definitions()
LESSONS = lesson_definitions()


@pytest.mark.parametrize("key", sorted(PACKAGE), ids=lambda key: f"{key[0]}:{key[1]}")
def test_package_definition_is_taught(key):
    module, name = key
    assert key in LESSONS, f"{module} defines {name}, but no lesson cell marked '# {module}' shows it"
    for notebook, code in LESSONS[key]:
        diff = "\n".join(difflib.unified_diff(
            PACKAGE[key].splitlines(), code.splitlines(), module, notebook, lineterm=""))
        assert not diff, (f"{name} in {notebook} differs from {module} "
                          f"(run python tests/sync_lessons.py):\n{diff}")


def test_each_definition_is_taught_once():
    repeated = sorted(f"{module}:{name} in {', '.join(nb for nb, _ in places)}"
                      for (module, name), places in LESSONS.items() if len(places) > 1)
    assert not repeated, "definitions presented in more than one marked cell:\n" + "\n".join(repeated)


def test_lessons_define_nothing_the_package_lacks():
    extra = sorted(f"{module}:{name} (in {', '.join(nb for nb, _ in places)})"
                   for (module, name), places in LESSONS.items() if (module, name) not in PACKAGE)
    assert not extra, "lesson cells marked for the package define what it does not have:\n" + \
        "\n".join(extra)
