"""The Gradescope autograder, built and run as Gradescope runs it, in a folder of our own.

`python tests/grade.py --gradescope FILE.zip` writes the bundle; here it is
unpacked as Gradescope unpacks it (into source/), and its run_autograder runs
with a submission in submission/, writing results/results.json. A perfect copy
scores full marks, a blank copy 0, and a student who sends only the files they
edit is graded on those.
"""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import grade
import isolation
from judge import NEEDS

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 600
MAXIMUM = sum(points for tests in grade.catalog().values() for _, points, *_ in tests)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    target = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "grade.py"), "--gradescope", str(target)],
                          capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return target


# What a container without CAP_SYS_ADMIN (Docker's default) allows: root, but no namespaces.
NO_SYS_ADMIN = ["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin"]


def run_autograder(bundle, root, submit, prefix=()):
    """Unpack ``bundle`` under ``root`` as Gradescope does, submit, run; return results.json."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    submit(root / "submission")
    env = {"AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([*prefix, "bash", str(root / "source" / "run_autograder")],
                          capture_output=True, text=True, timeout=TIMEOUT, env=env,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


def test_the_bundle_has_gradescopes_entry_points_and_the_hidden_tests(bundle):
    names = zipfile.ZipFile(bundle).namelist()
    assert "setup.sh" in names and "run_autograder" in names
    assert any(name.startswith("tests/grading/hidden/") for name in names)
    assert any(name.startswith("blank/chatroom/") for name in names)
    assert not any(name.startswith(("solutions/", "chatroom/")) for name in names)


def test_a_perfect_copy_scores_full_marks(bundle, released_kits, tmp_path):
    results = run_autograder(bundle, tmp_path, lambda folder: shutil.copytree(
        released_kits[0], folder / "my-kit", ignore=shutil.ignore_patterns(".git")))
    assert results["score"] == MAXIMUM, [test for test in results["tests"] if test["score"] < test["max_score"]]
    assert sum(test["max_score"] for test in results["tests"]) == MAXIMUM
    assert "found inside my-kit/" in results["output"]
    assert isolation.describe(isolation.walls()) in results["output"]
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "output", "visibility"}
    visibilities = {test["visibility"] for test in results["tests"]}
    assert visibilities == {"visible", "after_published"}
    hidden = [test for test in results["tests"] if test["visibility"] == "after_published"]
    assert all("hidden" in test["name"] for test in hidden)


def test_a_blank_copy_scores_zero(bundle, released_kits, tmp_path):
    results = run_autograder(bundle, tmp_path,
                             lambda folder: shutil.copytree(released_kits[1], folder))
    assert results["score"] == 0
    assert any(test["output"].startswith("not attempted") for test in results["tests"])


def test_the_files_a_student_edits_are_enough(bundle, released_kits, tmp_path):
    def submit(folder):
        folder.mkdir()
        shutil.copy(released_kits[0] / "chatroom" / "measure.py", folder)  # one file, at the top
    results = run_autograder(bundle, tmp_path, submit)
    earned = {test["name"].split(":")[0] for test in results["tests"] if test["score"]}
    assert earned == {"ex08_percentile"}, earned
    assert "chatroom/measure.py" in results["output"]


def test_the_setup_says_what_it_installs_and_pins_it(bundle):
    setup = zipfile.ZipFile(bundle).read("setup.sh").decode("utf-8")
    assert subprocess.run(["bash", "-n"], input=setup, text=True, timeout=60).returncode == 0
    for need in NEEDS:
        assert "==" in need and need in setup
    assert setup.count("echo ") >= 3  # it says what it installs, as it goes


@pytest.mark.skipif(not isolation.available() or shutil.which("setpriv") is None,
                    reason="a container's walls are simulated as root on Linux, with setpriv")
@pytest.mark.parametrize("kit, score", [(0, MAXIMUM), (1, 0)])
def test_in_a_container_without_cap_sys_admin(bundle, released_kits, tmp_path, kit, score):
    """Gradescope's container may refuse namespaces: the walls that remain are used, and
    the results say which; a perfect copy still scores full marks, a blank one 0."""
    results = run_autograder(bundle, tmp_path, lambda folder: shutil.copytree(released_kits[kit], folder),
                             prefix=NO_SYS_ADMIN)
    assert results["score"] == score, [test for test in results["tests"]
                                       if test["score"] < test["max_score"]][:3]
    assert isolation.describe("user") in results["output"]
