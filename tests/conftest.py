"""Shared fixtures: the app on the bundled data, clients, settings builders and a real server."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis
import uvicorn
from fastapi.testclient import TestClient

from api_app.factory import create_app
from common.settings import DEFAULT_DATASET_PATH, REPO_ROOT, Settings
from shared_dataloader import load_indicator_dataset

READY_TIMEOUT = 120
MEASURED: dict[str, dict] = {}  # figures tests measure (e.g. the container tests), printed at the end
SHARED_REDIS_DB = "redis://127.0.0.1:6379/13"
WORKER_RECOVERY_SECONDS = 3
STATE_DIR = Path(tempfile.mkdtemp(prefix="sids-test-state-"))
"""The tests' SQLite key/audit database and audit spool (never the checkout's `.data/`)."""
os.environ.setdefault("STATE_DIR", str(STATE_DIR))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def pytest_terminal_summary(terminalreporter):
    for group, figures in MEASURED.items():
        if figures:
            terminalreporter.write_line(
                f"{group} figures: " + ", ".join(f"{k} {v}" for k, v in figures.items())
            )


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


@contextlib.contextmanager
def running_app(models_package: str = "models", **overrides):
    """A TestClient on a new app built with these settings, started and past data loading."""
    app = create_app(make_settings(**overrides), models_package=models_package)
    with TestClient(app) as client:
        wait_ready(client)
        yield client


@pytest.fixture(scope="session")
def dataset():
    """The bundled indicator dataset (loaded once per process, shared with the app)."""
    return load_indicator_dataset(DEFAULT_DATASET_PATH)


@pytest.fixture(scope="session")
def client():
    """A client of the app with every model, on the bundled data, ready."""
    with running_app() as test_client:
        report = test_client.get("/health/ready").json()
        assert report["status"] == "ready", report
        yield test_client


def year_of(predict_response: dict, year: str) -> dict:
    """One year's fields of a twolvlImp predict response (SPEC §5.1.6 nests field first, then year)."""
    return {field: by_year[year] for field, by_year in predict_response["indicatorJson"].items()}


def plausible_ranges(dataset, target: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """(point range, bound range) of `target` by SPEC §5.7, computed here from the data and the
    indicator's name: support = [0 if nothing observed is negative, 100 if a `%` name and nothing
    observed exceeds 100]; points also within 25 % of the observed range beyond it."""
    values = dataset.indicator_table(target).to_numpy().ravel()
    values = values[~np.isnan(values)]
    low = 0.0 if values.min() >= 0 else -np.inf
    high = 100.0 if "%" in dataset.meta.at[target, "name"] and values.max() <= 100 else np.inf
    margin = 0.25 * (values.max() - values.min())
    return (max(low, values.min() - margin), min(high, values.max() + margin)), (low, high)


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def live_server(env: dict | None = None, workers: int = 1, output=None):
    """A real uvicorn server (subprocess) on a free port; yields its base URL once ready.
    `output`: a file that receives the server's stdout and stderr (its log)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "api_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--http",
        "api_app.server:GuardedHttpToolsProtocol",
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env={**os.environ, "MACHINE_SPEED_PROBE": "false", "STATE_DIR": str(STATE_DIR), **(env or {})},
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/health/ready", timeout=2).status_code == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            time.sleep(0.1)
        else:
            raise RuntimeError("server did not become ready")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def server_url():
    """Base URL of a real uvicorn server with every model (one per test session)."""
    with live_server() as url:
        yield url


def under_prefix(app, prefix: str):
    """The app as behind an ingress that forwards `prefix` and tells the app (`root_path`): requests
    under the prefix get it as root_path; the others are passed unchanged."""

    async def asgi(scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(prefix + "/"):
            scope = {**scope, "root_path": scope.get("root_path", "") + prefix}
        await app(scope, receive, send)

    return asgi


STRICT_CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    b"connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)


def with_strict_csp(app):
    """The app with a Content-Security-Policy that allows no inline script or style and no eval."""

    async def asgi(scope, receive, send):
        async def send_with_csp(message):
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"content-security-policy", STRICT_CSP)],
                }
            await send(message)

        await app(scope, receive, send_with_csp)

    return asgi


@contextlib.contextmanager
def threaded_server(app):
    """uvicorn serving `app` from a daemon thread on a free port; yields its base URL once started."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + READY_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


PLAYGROUND_PREFIX = "/sids"


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


class PrivateRedis:
    """A redis-server of the test's own, to kill, stop (SIGSTOP) and continue."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.ConnectionError):
                redis.Redis.from_url(self.url).ping()
                return
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.process.poll() is None:
            self.resume()
            self.kill()


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


def start_worker(
    redis_url: str, *args: str, pythonpath: tuple[str, ...] = (), **env: str
) -> subprocess.Popen:
    """A real `python -m api_app.worker` on the test Redis (MODEL_SERVICE=sampleapi unless given)."""
    environment = {
        **os.environ,
        "JOB_BACKEND": "redis",
        "REDIS_URL": redis_url,
        "MODEL_SERVICE": "sampleapi",
        "WORKER_RECOVERY_SECONDS": str(WORKER_RECOVERY_SECONDS),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *pythonpath]),
        **env,
    }
    return subprocess.Popen([sys.executable, "-m", "api_app.worker", *args], cwd=REPO_ROOT, env=environment)


def children(pid: int) -> list[int]:
    """Direct child processes of `pid` (a worker's forked work horses)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def stop_worker(process: subprocess.Popen) -> None:
    """SIGKILL a worker, then its children (work horses, or a pool's workers, which the dead pool
    can no longer respawn)."""
    if process.poll() is None:
        doomed = children(process.pid)
        process.kill()
        for child in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
    process.wait(timeout=10)


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


def make_key(app, *scopes: str, **options) -> str:
    """A new API key in the app's database holding `scopes` (the key itself, as a caller sends it)."""
    _, key = app.state.keys.create(options.pop("name", "test-" + "-".join(scopes)), list(scopes), **options)
    return key
