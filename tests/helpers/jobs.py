"""Helpers of the job tests: queue workers that can run the slow test model, apps with it mounted.
(The Redis server and worker processes themselves come from tests/conftest.py.)"""

import contextlib
import subprocess
from pathlib import Path

import jobs_slowmodel
import pytest
from conftest import make_settings, stop_worker, wait_ready
from conftest import start_worker as start_shared_worker
from fastapi.testclient import TestClient

from api_app.factory import create_app

HERE = Path(__file__).resolve().parent


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
    return start_shared_worker(redis_url, *args, pythonpath=(str(HERE),), **env)


@pytest.fixture
def worker(redis_conn, redis_url):
    """One queue worker (concurrency 1) for the test, killed afterwards."""
    process = start_worker(redis_url)
    yield process
    stop_worker(process)
