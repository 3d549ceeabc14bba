"""Shared fixtures: the dataset, clients of the app with every model, real servers, Redis and
PostgreSQL. Plain helpers live in tests/helpers."""

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import redis

from api_app.factory import create_app
from common.settings import DEFAULT_DATASET_PATH, REPO_ROOT
from helpers.app import make_settings, running_app, wait_ready
from helpers.figures import MEASURED
from helpers.servers import (
    PLAYGROUND_PREFIX,
    free_port,
    live_server,
    threaded_server,
    under_prefix,
    with_strict_csp,
)
from helpers.workers import PrivateRedis
from shared_dataloader import load_indicator_dataset

SHARED_REDIS_DB = "redis://127.0.0.1:6379/13"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def pytest_terminal_summary(terminalreporter):
    for group, figures in MEASURED.items():
        if figures:
            terminalreporter.write_line(
                f"{group} figures: " + ", ".join(f"{k} {v}" for k, v in figures.items())
            )


@pytest.fixture(scope="session")
def dataset():
    """The bundled indicator dataset (loaded once per process, shared with the app)."""
    return load_indicator_dataset(DEFAULT_DATASET_PATH)


@pytest.fixture(scope="session")
def client():
    """A client of the app with every model, on the bundled data, ready and past its warm-ups."""
    with running_app() as test_client:
        report = test_client.get("/health/ready").json()
        assert report["status"] == "ready", report
        yield test_client


@pytest.fixture(scope="session")
def server_url():
    """Base URL of a real uvicorn server with every model (one per test session)."""
    with live_server() as url:
        yield url


@pytest.fixture(scope="session")
def playground_server():
    """A live server (every model, bundled data, no other services) for the browser tests, under a
    strict CSP; it also answers under PLAYGROUND_PREFIX as an app behind a path prefix would."""
    app = create_app(make_settings())
    with threaded_server(with_strict_csp(under_prefix(app, PLAYGROUND_PREFIX))) as url:
        wait_ready(httpx.Client(base_url=url))
        yield url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Playwright drives Debian's Chromium (apt `chromium`); `playwright install` is never needed."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def redis_url():
    """A redis-server of our own on a free port (or db 13 of the local server); skipped without Redis."""
    if shutil.which("redis-server"):
        port = free_port()
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with contextlib.suppress(redis.ConnectionError):
                    redis.Redis.from_url(url).ping()
                    break
                time.sleep(0.05)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)
        return
    try:
        redis.Redis.from_url(SHARED_REDIS_DB, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip("no Redis: install redis-server or run one on 127.0.0.1:6379")
    yield SHARED_REDIS_DB


@pytest.fixture
def private_redis():
    """A redis-server for this test alone (skipped where redis-server is not installed)."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = PrivateRedis()
    yield server
    server.close()


@pytest.fixture
def redis_conn(redis_url):
    """A connection to the test Redis, emptied before and after the test."""
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def postgres_url():
    """SQLAlchemy URL of a new, uniquely named database on the machine's PostgreSQL, dropped afterwards."""
    import uuid

    import psycopg

    name = f"sids_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
