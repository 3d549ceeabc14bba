"""GitHub Actions workflows: CI on every push/PR, CD builds, pushes, applies and waits."""

from __future__ import annotations

import re

import pytest
import yaml

from helpers.deploy import REPO

WORKFLOWS = REPO / ".github" / "workflows"


def load(name):
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the bare key "on" as True
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps_text(job):
    return "\n".join(
        str(step.get("run", "")) + str(step.get("uses", "")) + str(step.get("with", ""))
        for step in job.get("steps", [])
    )


@pytest.fixture(scope="module")
def ci():
    return load("ci.yml")


@pytest.fixture(scope="module")
def cd():
    return load("cd.yml")


def test_ci_runs_the_suite_on_every_push_and_pull_request(ci):
    assert "push" in ci["on"] and "pull_request" in ci["on"]
    assert ci["on"]["push"] is None, "no branch filter: every push"
    (job,) = ci["jobs"].values()
    text = steps_text(job)
    assert ".ci/run" in text, "CI runs the same entry point as local CI"
    assert "actions/checkout" in text and "setup-python" in text and "python-version" in text
    assert ci["permissions"] == {"contents": "read"}


def test_cd_tests_builds_pushes_applies_and_waits(cd):
    assert cd["on"]["push"]["branches"] == ["main"]
    assert cd["jobs"]["test"]["uses"] == "./.github/workflows/ci.yml"
    deploy = cd["jobs"]["deploy"]
    assert deploy["needs"] == "test"
    assert deploy["permissions"]["id-token"] == "write", "OIDC login, no stored cloud password"
    assert deploy["env"]["IMAGE_TAG"] == "${{ github.sha }}"
    text = steps_text(deploy)
    order = [
        "azure/login",
        "docker build",
        "docker push",
        "kustomize edit set image",
        "kubectl apply",
        "rollout status",
    ]
    positions = [text.find(word) for word in order]
    assert all(p >= 0 for p in positions), dict(zip(order, positions))
    assert positions == sorted(positions), "steps run in this order"
    assert "$IMAGE_TAG" in text and ":latest" not in text


def test_secrets_only_through_the_secret_store():
    for path in WORKFLOWS.glob("*.y*ml"):
        text = path.read_text()
        for line in text.splitlines():
            if (
                re.search(r"(client-id|tenant-id|subscription-id|password|token)\s*:", line, re.I)
                and "id-token: write" not in line
            ):
                assert "${{ secrets." in line, f"{path.name}: {line.strip()}"
        # no inline expansion of untrusted event data into shell scripts
        assert "github.event." not in text
        assert not re.search(r"run:.*\$\{\{", text), f"{path.name}: pass values to run steps via env"
