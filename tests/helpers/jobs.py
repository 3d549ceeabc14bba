"""Helpers of the job tests: queue workers that can run the slow test model, apps with it mounted.
(The `worker` fixture is in tests/common/jobs/conftest.py.)"""

import contextlib
import subprocess
from pathlib import Path

from fastapi.testclient import TestClient

from api_app.factory import create_app
from helpers import jobs_slowmodel
from helpers.app import make_settings, wait_ready
from helpers.workers import start_worker as start_shared_worker

TESTS = Path(__file__).resolve().parents[1]
"""On the worker's PYTHONPATH, so it imports the slow model as `helpers.jobs_slowmodel` too."""


def app_with_slow_model(**overrides):
    app = create_app(make_settings(model_service=("sampleapi",), **overrides))
    app.include_router(jobs_slowmodel.router)
    return app


@contextlib.contextmanager
def client_for(**overrides):
    with TestClient(app_with_slow_model(**overrides)) as client:
        wait_ready(client)
        yield client


def start_worker(redis_url: str, *args: str, **env: str) -> subprocess.Popen:
    """A queue worker that can also run the slow test model."""
    return start_shared_worker(redis_url, *args, pythonpath=(str(TESTS),), **env)
