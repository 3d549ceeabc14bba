"""Helpers of the job tests: a private Redis server, queue workers as real subprocesses, apps with
the slow test model mounted."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

import jobs_slowmodel
from api_app.factory import create_app
from common.settings import REPO_ROOT
from conftest import free_port, make_settings, wait_ready

HERE = Path(__file__).resolve().parent
RECOVERY_SECONDS = 3
SHARED_REDIS_DB = "redis://127.0.0.1:6379/13"


@pytest.fixture(scope="session")
def redis_url():
    """A redis-server of our own on a free port (or db 13 of the local server); skipped without Redis."""
    if shutil.which("redis-server"):
        port = free_port()
        server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no"], stdout=subprocess.DEVNULL)
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
def redis_conn(redis_url):
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


def app_with_slow_model(**overrides):
    app = create_app(make_settings(model_service=("sampleapi",), **overrides))
    app.include_router(jobs_slowmodel.router)
    return app


@contextlib.contextmanager
def client_for(**overrides):
    with TestClient(app_with_slow_model(**overrides)) as client:
        wait_ready(client)
        yield client


def worker_env(redis_url: str, **extra: str) -> dict:
    return {**os.environ, "JOB_BACKEND": "redis", "REDIS_URL": redis_url, "MODEL_SERVICE": "sampleapi",
            "WORKER_RECOVERY_SECONDS": str(RECOVERY_SECONDS), "LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(HERE)]), **extra}


def start_worker(redis_url: str, *args: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "api_app.worker", *args], cwd=REPO_ROOT,
                            env=worker_env(redis_url, **extra))


def children(pid: int) -> list[int]:
    """Direct child processes of `pid` (a worker's forked work horses)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def stop(process: subprocess.Popen) -> None:
    """SIGKILL a worker, then its children (work horses, or a pool's workers, which the dead pool
    can no longer respawn)."""
    if process.poll() is None:
        doomed = children(process.pid)
        process.kill()
        for child in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.fixture
def worker(redis_conn, redis_url):
    """One queue worker (concurrency 1) for the test, killed afterwards."""
    process = start_worker(redis_url)
    yield process
    stop(process)
