"""GitHub Classroom: the workflow in the students' copy grades each exercise for its points.

The workflow tests/release.py writes must be valid for GitHub (checked against the part
of SchemaStore's github-workflow.json it uses, tests/github-workflow.schema.json), have one
autograding-command-grader step per exercise and per challenge of grade.catalog(), worth
that exercise's public points, and report them with autograding-grading-reporter. Each
step's own command, run in a released copy, earns its points exactly when its exercise
is done: the grader's exit code is what the command grader scores.
"""

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

import grade

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "tests" / "github-workflow.schema.json").read_text(encoding="utf-8"))
TIMEOUT = 300


@pytest.fixture(scope="module")
def workflow(released_kits):
    text = (released_kits[1] / ".github" / "workflows" / "classroom.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def public_points(exercise):
    return sum(points for _, points, visibility, _ in grade.catalog()[exercise]
               if visibility == "public")


def graders(workflow):
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    return [step for step in steps
            if step.get("uses", "").startswith("classroom-resources/autograding-command-grader@")]


def test_the_workflow_is_valid_for_github(workflow):
    jsonschema.validate(workflow, SCHEMA)
    assert workflow["name"] == "Autograding Tests"  # the name Classroom reads the points of
    assert list(workflow["jobs"]) == ["run-autograding-tests"]
    assert workflow["permissions"] == {"checks": "write", "contents": "read", "actions": "read"}


def test_the_schema_refuses_what_github_refuses(workflow):
    job = workflow["jobs"]["run-autograding-tests"]
    for broken in ({**workflow, "jobs": {"run-autograding-tests": {**job, "runs-on": None}}},
                   {key: value for key, value in workflow.items() if key != "on"},
                   {**workflow, "permissions": {"checks": "maybe"}},
                   {**workflow, "jobs": {"run-autograding-tests": {**job, "steps": [{"name": "x"}]}}},
                   {**workflow, "jobs": {"run-autograding-tests": {**job, "stepz": []}}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


def test_node24_actions(workflow):
    uses = [step.get("uses") for step in workflow["jobs"]["run-autograding-tests"]["steps"]]
    assert "actions/checkout@v5" in uses and "actions/setup-python@v6" in uses


def test_one_grader_step_per_exercise_worth_its_points(workflow):
    steps = graders(workflow)
    assert [step["with"]["test-name"] for step in steps] == list(grade.catalog())
    for step in steps:
        exercise = step["with"]["test-name"]
        assert step["id"] == exercise
        assert step["with"]["max-score"] == public_points(exercise) > 0
        command = shlex.split(step["with"]["command"])
        assert command[:4] == ["python", "tests/grade.py", "--student", "-k"]
        assert [name for name in grade.catalog() if command[4] in name] == [exercise]


def test_the_reporter_reads_every_step(workflow):
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    reporter = steps[-1]
    assert reporter["uses"] == "classroom-resources/autograding-grading-reporter@v1"
    ids = [step["id"] for step in graders(workflow)]
    assert reporter["with"]["runners"].split(",") == ids
    assert reporter["env"] == {f"{step_id.upper()}_RESULTS": f"${{{{steps.{step_id}.outputs.result}}}}"
                               for step_id in ids}
    # Work in progress is not a failure: the reporter's red step does not fail the run.
    assert reporter["continue-on-error"] is True


def test_a_step_earns_its_points_exactly_when_its_exercise_is_done(workflow, released_kits, tmp_path):
    """Run two steps' commands as the command grader does, in a copy with one exercise done."""
    perfect, blank = released_kits
    steps = graders(workflow)
    copy = tmp_path / "copy"
    shutil.copytree(blank, copy)
    for folder in ("chatroom", "exercises"):  # the modules of the first exercise, from the answers
        for path in sorted((perfect / folder).glob("*.py")):
            if f'"{stub_of(steps[0]["id"])}' in (copy / folder / path.name).read_text(encoding="utf-8"):
                shutil.copy(path, copy / folder / path.name)
    texts = "".join(path.read_text(encoding="utf-8") for path in copy.glob("*/*.py"))
    undone = next(step for step in steps if f'"{stub_of(step["id"])}' in texts)
    for step, expected in ((steps[0], 0), (undone, 1)):
        finished = subprocess.run([sys.executable, *shlex.split(step["with"]["command"])[1:]],
                                  cwd=copy, capture_output=True, text=True, timeout=TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        assert finished.returncode == expected, (step["id"], finished.stdout)


def stub_of(exercise):
    """The start of the stub that names ``exercise``: "exercise 1 (" or "challenge 3:"."""
    kind, number = exercise[:2], int(exercise[2:].split("_")[0])
    return f"exercise {number} (" if kind == "ex" else f"challenge {number}:"
