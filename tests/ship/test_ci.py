"""``.github/workflows/ci.yml``: on every push and pull request, the README's test command runs in a
checkout with room for ``../shared`` beside it, hadolint checks the Dockerfile, and the image is built
with buildx from the repository's Dockerfile."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    document = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert isinstance(document, dict)
    return document


def _steps(workflow: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return steps


def _uses(steps: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in steps if str(s.get("uses", "")).split("@")[0] == action]


def test_runs_on_push_and_pull_request(workflow: dict[Any, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert isinstance(triggers, dict)
    assert {"push", "pull_request"} <= set(triggers)


def test_every_action_is_pinned_to_a_version(workflow: dict[Any, Any]) -> None:
    for job in workflow["jobs"]:
        for step in _steps(workflow, job):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*|[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"])


def test_test_job_runs_the_readme_command_in_a_subfolder(workflow: dict[Any, Any]) -> None:
    steps = _steps(workflow, "test")
    checkout = _uses(steps, "actions/checkout")[0]
    folder = checkout["with"]["path"]
    assert folder not in {".", ""}, "../shared must fit beside the checkout"
    assert _uses(steps, "actions/setup-python")[0]["with"]["python-version"] == "3.11"
    assert str(_uses(steps, "actions/setup-node")[0]["with"]["node-version"]) == "20"
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme
    runs = [s for s in steps if s.get("run", "").strip() == "make test"]
    assert runs
    assert runs[0]["working-directory"] == folder


def test_hadolint_job_lints_the_dockerfile(workflow: dict[Any, Any]) -> None:
    runs = " ".join(s.get("run", "") for s in _steps(workflow, "hadolint"))
    assert "hadolint Dockerfile" in runs


def test_docker_job_builds_the_dockerfile_with_buildx(workflow: dict[Any, Any]) -> None:
    steps = _steps(workflow, "docker")
    assert _uses(steps, "docker/setup-buildx-action")
    (build,) = _uses(steps, "docker/build-push-action")
    assert (ROOT / build["with"]["context"] / build["with"]["file"]).resolve() == (ROOT / "Dockerfile").resolve()
    assert build["with"]["push"] is False
