"""The lessons build the package: every definition in chatroom/ is taught, or set as an exercise.

The two ways a lesson presents package code are described in tests/sync_lessons.py,
which also copies changed package code into the lessons.
"""

import difflib

import pytest

from sync_lessons import lesson_units, package_units

PACKAGE = package_units()
LESSONS = lesson_units()


@pytest.mark.parametrize("key", sorted(PACKAGE), ids=lambda key: f"{key[0]}:{key[1]}")
def test_package_definition_is_presented(key):
    module, name = key
    wanted, exercise = PACKAGE[key]
    how = ("set as an exercise in a markdown block marked '# " if exercise
           else "shown in a code cell marked '# ")
    assert key in LESSONS, f"{module} defines {name}, but no lesson has it {how}{module}'"
    for notebook, kind, code in LESSONS[key]:
        assert (kind == "exercise") == exercise, (
            f"{name} in {notebook}: " + ("an exercise is shown in a markdown block as the students' "
                                         "copy has it, never as code that runs" if exercise else
                                         "only exercises go in markdown blocks; show it in a code cell"))
        diff = "\n".join(difflib.unified_diff(wanted.splitlines(), code.splitlines(),
                                              module, notebook, lineterm=""))
        assert not diff, (f"{name} in {notebook} differs from {module} "
                          f"(run python tests/sync_lessons.py):\n{diff}")


def test_each_definition_is_presented_once():
    repeated = sorted(f"{module}:{name} in {', '.join(nb for nb, _, _ in places)}"
                      for (module, name), places in LESSONS.items() if len(places) > 1)
    assert not repeated, "definitions presented more than once:\n" + "\n".join(repeated)


def test_lessons_define_nothing_the_package_lacks():
    extra = sorted(f"{module}:{name} (in {', '.join(nb for nb, _, _ in places)})"
                   for (module, name), places in LESSONS.items() if (module, name) not in PACKAGE)
    assert not extra, "lesson cells marked for the package define what it does not have:\n" + \
        "\n".join(extra)
