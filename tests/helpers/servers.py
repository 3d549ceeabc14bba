"""Real servers for tests: a free port, uvicorn in a subprocess or a thread, an app behind a path
prefix or under a strict Content-Security-Policy."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import uvicorn

from common.settings import REPO_ROOT
from helpers.app import READY_TIMEOUT, STATE_DIR

PLAYGROUND_PREFIX = "/sids"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(process: subprocess.Popen, base_url: str) -> None:
    """Poll `/health/ready` until it answers 200; RuntimeError if the process exits or it takes too long."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health/ready", timeout=2).status_code == 200:
                return
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


@contextlib.contextmanager
def _server_process(command: list[str], port: int, env: dict | None, output):
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env={**os.environ, "MACHINE_SPEED_PROBE": "false", "STATE_DIR": str(STATE_DIR), **(env or {})},
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, base_url)
        yield process, base_url
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


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
    with _server_process(command, port, env, output) as (_, base_url):
        yield base_url


@contextlib.contextmanager
def forking_server(env: dict | None = None, workers: int = 2, output=None, graceful: float = 10):
    """`python -m api_app.serve` (a master that loads the data, then forks `workers` workers) on a free
    port; yields (the master's Popen, base URL) once ready. The caller may stop the master itself."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "api_app.serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--timeout-graceful-shutdown",
        str(graceful),
    ]
    with _server_process(command, port, env, output) as started:
        yield started


def post_slowly(url: str, body: dict, upload_seconds: float, outcome: dict) -> threading.Thread:
    """POST `body` to `url` from a thread, its body taking `upload_seconds` to arrive, so the request is
    in flight meanwhile; `outcome` receives "response" or "error"."""
    content = json.dumps(body).encode()

    def chunks():
        yield content[:10]
        time.sleep(upload_seconds)
        yield content[10:]

    def run():
        try:
            outcome["response"] = httpx.post(
                url, content=chunks(), timeout=60, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


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
