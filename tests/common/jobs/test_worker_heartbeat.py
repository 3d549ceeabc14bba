"""The queue worker's liveness: a real `python -m api_app.worker` keeps a heartbeat file that
`python -m common.heartbeat` (the pod's exec probe) reads; a hung worker goes stale, a Redis outage
does not stop the beat, and a stopped worker removes its file. (A clean SIGTERM stop with the
running job finishing is tested in test_jobs_redis.py.)"""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import redis

from common import heartbeat
from common.settings import REPO_ROOT
from helpers.servers import free_port
from helpers.workers import start_worker
from helpers.workers import stop_worker as stop


def probe(folder) -> subprocess.CompletedProcess:
    env = {**os.environ, "WORKER_HEARTBEAT_DIR": str(folder), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "common.heartbeat"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def own_redis():
    """A redis-server for this test alone, so that it can be taken down mid-test."""
    binary = shutil.which("redis-server")
    if not binary:
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    wait_until(lambda: _pings(url), timeout=10)
    yield server, url
    if server.poll() is None:
        server.terminate()
    server.wait(timeout=10)


def _pings(url: str) -> bool:
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.ConnectionError:
        return False


def test_the_probe_reports_missing_stale_and_dead_workers(tmp_path):
    assert heartbeat.check(tmp_path / "none", 60) == (
        False,
        f"no running worker has a heartbeat in {tmp_path / 'none'}",
    )
    heartbeat.beat(tmp_path, os.getpid())
    healthy, message = heartbeat.check(tmp_path, 60)
    assert healthy and message.startswith("1 worker(s) alive")
    healthy, message = heartbeat.check(tmp_path, 60, now=time.time() + 61)
    assert not healthy and f"pid {os.getpid()}" in message and "limit 60 s" in message
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    heartbeat.beat(tmp_path, gone.pid)
    assert heartbeat.check(tmp_path, 60)[0] and not (tmp_path / str(gone.pid)).exists(), (
        "a dead process's file goes"
    )


def test_a_worker_beats_while_idle_and_through_a_redis_outage_and_not_when_hung(tmp_path, own_redis):
    server, url = own_redis
    folder = tmp_path / "beats"
    worker = start_worker(url, WORKER_HEARTBEAT_DIR=str(folder))
    try:
        wait_until(lambda: probe(folder).returncode == 0)
        assert "1 worker(s) alive" in probe(folder).stdout
        # a hung worker (stopped) stops beating: the probe fails once the file is older than the limit
        os.kill(worker.pid, signal.SIGSTOP)
        time.sleep(6)
        healthy, message = heartbeat.check(folder, 5)
        assert not healthy and "stalled" in message, message
        os.kill(worker.pid, signal.SIGCONT)
        wait_until(lambda: heartbeat.check(folder, 5)[0], timeout=30)
        # Redis goes away: the loop keeps retrying, and beating, so the probe keeps passing
        server.terminate()
        server.wait(timeout=10)
        for _ in range(3):
            time.sleep(2)
            assert heartbeat.check(folder, 5)[0], heartbeat.check(folder, 5)[1]
        # a stopped worker removes its heartbeat (even when it cannot tell Redis it is leaving)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        assert list(folder.iterdir()) == []
        assert probe(folder).returncode == 1
    finally:
        stop(worker)
