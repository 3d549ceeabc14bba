"""Dockerfile and .dockerignore, checked statically (tests/container builds and runs the image)."""

from __future__ import annotations

import re

import pytest

from common.settings import Settings
from helpers.deploy import REPO


@pytest.fixture(scope="module")
def instructions():
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    text = (REPO / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def test_the_base_image_is_a_build_argument_defaulting_to_slim_python_311(instructions):
    """Production builds on the official image; CI builds offline on a local Debian + Python 3.11."""
    args = dict(a.split("=", 1) for w, a in instructions if w == "ARG" and "=" in a)
    assert re.fullmatch(r"python:3\.11-slim(-bookworm)?", args["PYTHON_IMAGE"])
    froms = [args.split()[0] for word, args in instructions if word == "FROM"]
    assert froms == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"], "multi-stage: build and runtime on the same base"


def test_no_syntax_directive_that_fetches_a_frontend_from_a_registry():
    first = (REPO / "Dockerfile").read_text().splitlines()[0]
    assert not re.match(r"#\s*syntax\s*=", first, re.I), (
        "BuildKit would pull the frontend image (offline builds fail)"
    )


RUNTIME_LIBRARIES = {"libpq5"}  # Debian's libpq, for psycopg's pure-Python implementation


def test_runtime_needs_no_build_tools_and_keeps_a_writable_tmp(instructions):
    """The runtime stage installs no Python packages and, from Debian, only shared libraries the
    service loads, without recommends, leaving no package lists or caches behind."""
    runtime = instructions[[i for i, (w, _) in enumerate(instructions) if w == "FROM"][1] :]
    runs = [a for w, a in runtime if w == "RUN"]
    assert not any("pip install" in a for a in runs), "Python packages are installed in the build stage"
    for run in (a for a in runs if "apt-get" in a):
        installs = re.findall(r"apt-get install ([^&;]+)", run)
        packages = {word for words in installs for word in words.split() if not word.startswith("-")}
        assert installs and packages <= RUNTIME_LIBRARIES, (
            f"not a runtime library: {packages - RUNTIME_LIBRARIES}"
        )
        assert all("--no-install-recommends" in words for words in installs)
        assert "rm -rf /var/lib/apt/lists/*" in run and "/var/cache/apt/*.bin" in run
    assert ("VOLUME", '["/tmp"]') in runtime, "a writable /tmp under --read-only when none is mounted"


def test_dependencies_are_installed_before_code_is_copied(instructions):
    words = [(w, a) for w, a in instructions]
    req_copy = next(i for i, (w, a) in enumerate(words) if w == "COPY" and "requirements.txt" in a)
    install = next(i for i, (w, a) in enumerate(words) if w == "RUN" and "pip install" in a)
    code_copy = next(
        i for i, (w, a) in enumerate(words) if w == "COPY" and "--from" not in a and "requirements" not in a
    )
    assert req_copy < install < code_copy
    assert "--no-cache-dir" in words[install][1]


def test_runs_as_a_non_root_user(instructions):
    users = [a for w, a in instructions if w == "USER"]
    assert users, "no USER instruction"
    final = users[-1].split(":")[0]
    assert final not in ("root", "0")
    assert final.isdigit() and int(final) >= 10000, "numeric UID so runAsNonRoot can verify it"
    # the Deployments run as the same UID
    deployment = (REPO / "deployment/base/deployment.yaml").read_text()
    assert f"runAsUser: {final}" in deployment


def test_serves_the_asgi_app_with_uvicorn(instructions):
    cmd = [a for w, a in instructions if w == "CMD"][-1]
    assert cmd.startswith("[")
    assert "exec uvicorn api_app:app" in cmd, "exec: uvicorn must be PID 1 to get SIGTERM"
    for option in [
        '--host \\"${HOST}\\"',
        "--loop uvloop",
        "--http api_app.server:GuardedHttpToolsProtocol",
        '--workers \\"${WEB_CONCURRENCY}\\"',
        '--timeout-graceful-shutdown \\"${GRACEFUL_SHUTDOWN_SECONDS}\\"',
    ]:
        assert option in cmd, option
    env = " ".join(a for w, a in instructions if w == "ENV")
    # the image's own defaults are safe with nothing else: one process, jobs in process
    assert "WEB_CONCURRENCY=1" in env and "PYTHONUNBUFFERED=1" in env and "HOST=0.0.0.0" in env
    assert "ENVIRONMENT=" not in env, "production settings come from the manifests"
    graceful = float(re.search(r"GRACEFUL_SHUTDOWN_SECONDS=(\d+)", env).group(1))
    assert graceful > Settings.model_fields["compute_timeout_seconds"].default
    assert any(w == "EXPOSE" and a == "8000" for w, a in instructions)
    health = [a for w, a in instructions if w == "HEALTHCHECK"]
    assert health and "api_app.healthcheck" in health[0], "one check for both roles: server and worker"


def test_requirements_pin_the_server_stack():
    requirements = (REPO / "requirements.txt").read_text()
    for package in ["uvicorn[standard]==", "uvloop==", "httptools=="]:
        assert package in requirements


def test_dockerignore_keeps_tests_git_and_caches_out():
    entries = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for expected in [
        ".git",
        "tests",
        ".venv",
        "**/__pycache__",
        ".pytest_cache",
        ".ci-tools",
        "**/*.tfstate",
        "kubeconfig*",
        ".env",
        "bench",
        "docs",
        "deployment",
        "compose.yaml",
    ]:
        assert expected in entries, expected
    # what the service needs is not ignored
    for needed in ["requirements.txt", "api_app", "common", "models", "shared_dataloader"]:
        assert needed not in entries
    assert not any(e.startswith("shared_dataloader") for e in entries), (
        "the bundled dataset ships in the image"
    )
