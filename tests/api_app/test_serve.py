"""`python -m api_app.serve`: a master that loads the data once and forks its workers. Real servers in
subprocesses (with the Redis job backend that several workers need, and a queue worker computing what
they queue), real HTTP: both workers answer, a killed worker is replaced, SIGTERM drains them, the
metrics add up over the workers and the HTTP limits stay in force."""

import contextlib
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from common.settings import REPO_ROOT
from helpers.servers import forking_server, post_slowly
from helpers.workers import children, start_worker, stop_worker

SUMMARY = {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2015"}
PATIENCE = 60
"""Seconds a test waits for a worker to be replaced or to stop (a loaded CI machine is slow)."""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, forks")


@contextlib.contextmanager
def served(redis_url: str, tmp_path, workers: int = 2, output=None):
    """A forking server of `workers` workers and a queue worker, on the test Redis; yields (master, url)."""
    env = {
        "MODEL_SERVICE": "sampleapi",
        "JOB_BACKEND": "redis",
        "REDIS_URL": redis_url,
        "COMPUTE_WORKERS": "1",
        "SERVER_MAX_HEADER_BYTES": "16384",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "LOG_LEVEL": "INFO",
    }
    queue_worker = start_worker(redis_url)
    try:
        with forking_server(env, workers=workers, output=output) as started:
            yield started
    finally:
        stop_worker(queue_worker)


def summary(url: str) -> dict:
    response = httpx.post(f"{url}/sampleapi/predict", json=SUMMARY, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(condition, what: str):
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {PATIENCE} s: {what}")


def answers_until_ok(url: str) -> dict:
    """The summary, retried while no worker is listening yet (a replacement still starting)."""

    def attempt():
        try:
            return summary(url)
        except httpx.TransportError:
            return None

    return wait_for(attempt, "the service answers")


def workers_of(master: subprocess.Popen, count: int) -> list[int]:
    return wait_for(lambda: len(found := children(master.pid)) == count and sorted(found), f"{count} workers")


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(
            f'{key}="{wanted}"' in line for key, wanted in labels.items()
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_both_workers_serve_a_killed_one_is_replaced_and_limits_and_metrics_hold(redis_url, tmp_path):
    log_file = tmp_path / "server.log"
    with log_file.open("w") as output, served(redis_url, tmp_path, output=output) as (master, url):
        first, second = workers_of(master, 2)
        expected = summary(url)
        assert expected["indicator"] == SUMMARY["indicator"] and expected["sids"]["countries"] >= 10

        requests = 30
        for _ in range(requests):  # a new connection each: both workers take some
            assert summary(url) == expected
        text = httpx.get(f"{url}/metrics", timeout=30).text
        served_total = value(text, "sids_http_requests_total", route="/sampleapi/predict", status="200")
        assert served_total == requests + 1  # the samples of both workers, summed

        huge = httpx.get(f"{url}/health/live", headers={"X-Padding": "a" * 20_000}, timeout=30)
        assert huge.status_code == 431  # GuardedHttpToolsProtocol in every worker

        os.kill(first, signal.SIGKILL)
        assert summary(url) == expected  # the other worker answers meanwhile
        replaced = wait_for(
            lambda: len(now := children(master.pid)) == 2 and first not in now and now, "a replacement"
        )
        (replacement,) = set(replaced) - {second}
        os.kill(second, signal.SIGKILL)
        assert answers_until_ok(url) == expected  # now only the replacement can answer
        # the killed worker stays a child (a zombie) until the master reaps it and forks another
        renewed = wait_for(
            lambda: len(now := children(master.pid)) == 2 and second not in now and now,
            "a second replacement",
        )
        assert replacement in renewed

    log = log_file.read_text()
    # the master loaded the data once; no worker (not even a replacement) loaded it again
    assert log.count("data indicators loaded before forking") == 1
    assert "data indicators loaded in" not in log
    assert f"worker [{first}] exited (signal SIGKILL); replacing it" in log


def test_sigterm_lets_requests_in_flight_finish_then_every_process_exits(redis_url, tmp_path):
    with served(redis_url, tmp_path) as (master, url):
        workers = workers_of(master, 2)
        compute = wait_for(
            lambda: len(found := [c for w in workers for c in children(w)]) == 2 and found,
            "a compute process per worker",
        )
        outcome: dict = {}
        thread = post_slowly(f"{url}/sampleapi/predict", SUMMARY, 2.5, outcome)
        time.sleep(0.8)
        master.send_signal(signal.SIGTERM)
        time.sleep(0.6)
        with pytest.raises(httpx.ConnectError):  # no new connections once stopping
            httpx.get(f"{url}/health/live", timeout=2)
        thread.join(30)
        response = outcome["response"]
        assert response.status_code == 200, response.text
        assert response.json()["indicator"] == SUMMARY["indicator"]
        assert master.wait(timeout=PATIENCE) == 0
        assert not [pid for pid in workers + compute if os.path.exists(f"/proc/{pid}")]


def test_workers_drain_and_leave_when_the_master_is_killed(redis_url, tmp_path):
    with served(redis_url, tmp_path) as (master, url):
        workers = workers_of(master, 2)
        assert summary(url)["indicator"] == SUMMARY["indicator"]
        master.kill()
        wait_for(lambda: not [pid for pid in workers if os.path.exists(f"/proc/{pid}")], "the workers exit")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health/live", timeout=2)


def test_several_workers_with_embedded_jobs_are_refused():
    done = subprocess.run(
        [sys.executable, "-m", "api_app.serve", "--workers", "2", "--port", "1"],
        cwd=REPO_ROOT,
        env={**os.environ, "JOB_BACKEND": "local"},
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert done.returncode == 2
    assert "JOB_BACKEND=local with WEB_CONCURRENCY=2" in done.stderr
