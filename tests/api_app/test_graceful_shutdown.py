"""SIGTERM with a request in flight, on a real server started by the container image's own command
(the Dockerfile's CMD line, run here without Docker): uvicorn stops listening, lets the request
finish within GRACEFUL_SHUTDOWN_SECONDS, then exits; past that limit the request is cut."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from common.settings import REPO_ROOT
from helpers.app import READY_TIMEOUT
from helpers.servers import free_port, post_slowly

SUMMARY = {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2015"}


def image_command() -> str:
    """The shell line of the Dockerfile's CMD (exec uvicorn ... with the image's variables)."""
    cmd = re.search(r'^CMD \["sh", "-c", "(.*)"\]$', (REPO_ROOT / "Dockerfile").read_text(), re.M).group(1)
    return cmd.replace('\\"', '"')


def start_server(graceful: float, **env: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    environment = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "GRACEFUL_SHUTDOWN_SECONDS": str(graceful),
        "MODEL_SERVICE": "sampleapi",
        "LOG_LEVEL": "WARNING",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        **env,
    }
    process = subprocess.Popen(["sh", "-c", image_command()], cwd=REPO_ROOT, env=environment)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)


@pytest.fixture
def servers():
    started = []

    def start(graceful: float, **env):
        process, url = start_server(graceful, **env)
        started.append(process)
        return process, url

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_sigterm_lets_the_request_in_flight_finish(servers):
    process, url = servers(10, COMPUTE_TIMEOUT_SECONDS="5")
    outcome: dict = {}
    thread = post_slowly(url + "/sampleapi/predict", SUMMARY, 2.5, outcome)
    time.sleep(0.8)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.4)
    with pytest.raises(httpx.ConnectError):  # no new connections once stopping
        httpx.get(url + "/health/live", timeout=2)
    thread.join(30)
    response = outcome["response"]
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["indicator"] == SUMMARY["indicator"] and answer["sids"]["countries"] >= 10
    # after its graceful shutdown uvicorn re-raises the signal it handled (as PID 1 in a container
    # that ends the process with status 0, see tests/container)
    assert process.wait(timeout=15) in (0, -signal.SIGTERM)


def test_a_request_longer_than_the_graceful_timeout_is_cut(servers):
    process, url = servers(1, COMPUTE_TIMEOUT_SECONDS="0.5")
    outcome: dict = {}
    thread = post_slowly(url + "/sampleapi/predict", SUMMARY, 6, outcome)
    time.sleep(0.8)
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    assert time.monotonic() - stopped_at < 5, "uvicorn waited past its graceful timeout"
    thread.join(30)
    assert "response" not in outcome or outcome["response"].status_code != 200
