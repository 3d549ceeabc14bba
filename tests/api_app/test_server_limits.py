"""Uvicorn exposed directly (`--http api_app.server:GuardedHttpToolsProtocol`): huge headers are
refused, slow clients are dropped, idle keep-alive connections are closed. Live server, raw sockets."""

import re
import socket
import time

import httpx
import pytest

from common.settings import REPO_ROOT
from helpers.servers import live_server

LIMITS = {
    "MODEL_SERVICE": "sampleapi",
    "SERVER_MAX_HEADER_BYTES": "16384",
    "SERVER_HEADER_TIMEOUT_SECONDS": "1",
    "SERVER_BODY_TIMEOUT_SECONDS": "1",
    "SERVER_KEEPALIVE_SECONDS": "1",
}
PATIENCE = 15
"""Seconds a test waits for the server to act on a 1-second limit (a loaded CI machine is slow)."""


@pytest.fixture(scope="module")
def server():
    with live_server(LIMITS) as url:
        yield url.removeprefix("http://").split(":")


def connect(server) -> socket.socket:
    host, port = server
    sock = socket.create_connection((host, int(port)), timeout=PATIENCE)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or PATIENCE passes)."""
    received, deadline = b"", time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:  # closed while our unread bytes were still queued: the kernel resets
            return received
        except TimeoutError:
            break
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the server kept the connection open; received {received[:200]!r}")


def test_headers_over_the_limit_are_answered_431(server):
    sock = connect(server)
    sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
    answer = read_until_closed(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert b'"code":"headers_too_large"' in answer.replace(b" ", b"")


def test_a_64_mib_header_is_cut_off_long_before_it_is_sent(server):
    sock = connect(server)
    sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\nX-Big: ")
    sent, chunk = 0, b"a" * 65536
    try:
        while sent < 64 * 1024 * 1024:
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.close()
    assert sent < 16 * 1024 * 1024, f"the server read {sent} header bytes"


def test_headers_up_to_the_limit_are_served(server):
    host, port = server
    response = httpx.get(f"http://{host}:{port}/health/live", headers={"X-Fine": "a" * 8000})
    assert response.status_code == 200


def test_a_client_trickling_its_headers_is_dropped_with_408(server):
    sock = connect(server)
    sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n")
    started = time.monotonic()
    try:
        for _ in range(4 * PATIENCE):
            sock.sendall(b"X")
            time.sleep(0.25)
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = read_until_closed(sock)
    sock.close()
    assert time.monotonic() - started < PATIENCE
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]


def test_a_connection_that_sends_nothing_is_closed(server):
    sock = connect(server)
    assert read_until_closed(sock) == b""
    sock.close()


def test_a_body_slower_than_its_time_limit_is_dropped(server):
    sock = connect(server)
    sock.sendall(
        b"POST /sampleapi/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"indicator": '
    )
    answer = read_until_closed(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    assert b"body did not arrive within 1 s" in answer


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(server):
    sock = connect(server)
    sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
    answer = read_until_closed(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"HTTP/1.1") == 1


def test_every_place_that_starts_uvicorn_selects_the_guarded_protocol():
    flag = "--http api_app.server:GuardedHttpToolsProtocol"
    readme = (REPO_ROOT / "README.md").read_text()
    command_1 = next(line for line in readme.splitlines() if "uvicorn api_app:app --host 127.0.0.1" in line)
    assert flag in command_1
    cmd = next(line for line in (REPO_ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD"))
    assert re.search(r"--http\\?\"? ?api_app\.server:GuardedHttpToolsProtocol", cmd) or flag in cmd
