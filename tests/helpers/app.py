"""Apps for tests: settings independent of the environment, a started app's client, temporary
model packages, API keys and job polling."""

import contextlib
import os
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from api_app.factory import create_app
from common.settings import DEFAULT_DATASET_PATH, Settings

READY_TIMEOUT = 120
STATE_DIR = Path(tempfile.mkdtemp(prefix="sids-test-state-"))
"""The tests' SQLite key/audit database and audit spool (never the checkout's `.data/`)."""
os.environ.setdefault("STATE_DIR", str(STATE_DIR))


def make_settings(**overrides) -> Settings:
    """Settings for tests, independent of the environment the tests run in."""
    values = {
        "environment": "test",
        "dataset_path": DEFAULT_DATASET_PATH,
        "model_service": (),
        "machine_speed_probe": False,
        "state_dir": STATE_DIR,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def wait_ready(client, timeout: float = READY_TIMEOUT) -> dict:
    """Poll /health/ready until nothing is loading any more; return the last report."""
    deadline = time.monotonic() + timeout
    while True:
        report = client.get("/health/ready").json()
        states = [c["state"] for c in [*report["models"].values(), *report["data"].values()]]
        if "loading" not in states or time.monotonic() > deadline:
            return report
        time.sleep(0.05)


def wait_started(client, timeout: float = READY_TIMEOUT) -> None:
    """Wait for what a started app does after readiness (the warm-ups, the compute processes forked
    again after them, the machine-speed probe's start)."""
    deadline = time.monotonic() + timeout
    while not client.app.state.loading.done() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.app.state.loading.done(), f"the app's start-up did not finish within {timeout} s"


@contextlib.contextmanager
def running_app(models_package: str = "models", started: bool = True, **overrides):
    """A TestClient on a new app built with these settings, ready and (unless `started` is False: a
    test of what happens between them) past the warm-ups that follow readiness."""
    app = create_app(make_settings(**overrides), models_package=models_package)
    with TestClient(app) as client:
        wait_ready(client)
        if started:
            wait_started(client)
        yield client


def models_package(tmp_path: Path, monkeypatch, name: str, models: dict[str, str]) -> str:
    """A temporary models package `name` with one sub-package per entry (model name → its
    __init__.py source), importable for the test; returns the package name for create_app."""
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for model, source in models.items():
        (package / model).mkdir()
        (package / model / "__init__.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def make_key(app, *scopes: str, **options) -> str:
    """A new API key in the app's database holding `scopes` (the key itself, as a caller sends it)."""
    _, key = app.state.keys.create(options.pop("name", "test-" + "-".join(scopes)), list(scopes), **options)
    return key


def poll_job(
    client,
    location: str,
    until=lambda job: job["status"] in ("succeeded", "failed", "cancelled"),
    timeout: float = 30,
) -> dict:
    """GET the job at `location` until `until(job)` holds or `timeout` passes; the last view."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(location).json()
        if until(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.02)
