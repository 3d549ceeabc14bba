"""Redis mode when things go wrong: Redis killed or stalled (SIGSTOP), no worker running, and a
synchronous request that overruns its limit (its job is stopped, the worker is free again)."""

import asyncio
import threading
import time

import pytest

from helpers.app import poll_job as poll
from helpers.jobs import client_for, start_worker
from helpers.workers import children, stop_worker

QUEUE_KEY = "rq:queue:sids-models"
SAMPLE = {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2012"}


def slow(seconds: float, steps: int, tag: str) -> dict:
    return {"seconds": seconds, "steps": steps, "tag": tag}


def timed(call):
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


@pytest.fixture
def redis_api(private_redis):
    with client_for(
        job_backend="redis",
        redis_url=private_redis.url,
        redis_timeout_seconds=1,
        worker_wait_seconds=2,
        compute_timeout_seconds=3,
    ) as client:
        yield client


def assert_unavailable(answer) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "unavailable" and "Redis" in answer.json()["detail"]
    assert int(answer.headers["retry-after"]) > 0


def wait_for(condition, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def ready_worker(api, url: str):
    """A queue worker, once it has registered (WORKER_WAIT_SECONDS is shorter than its start-up)."""
    worker = start_worker(url)
    assert wait_for(api.app.state.jobs.workers_alive, timeout=60), "the worker did not start"
    return worker


def test_redis_killed_gives_503_with_retry_after_and_cached_answers_go_on(redis_api, private_redis):
    worker = ready_worker(redis_api, private_redis.url)
    try:
        computed = redis_api.post("/sampleapi/predict", json=SAMPLE)
        assert computed.status_code == 200
    finally:
        stop_worker(worker)
    accepted = redis_api.post("/slowtest/run", json=slow(0, 1, "job"), headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202
    assert redis_api.get("/health/ready").json()["redis"] == "up"

    private_redis.kill()
    cached = redis_api.post("/sampleapi/predict", json=SAMPLE)
    assert cached.status_code == 200 and cached.content == computed.content, "in-process cache fallback"
    assert_unavailable(redis_api.post("/slowtest/run", json=slow(0, 1, "sync")))
    assert_unavailable(
        redis_api.post("/slowtest/run", json=slow(0, 1, "async"), headers={"Prefer": "respond-async"})
    )
    assert_unavailable(redis_api.get(accepted.headers["location"]))
    assert_unavailable(redis_api.post(accepted.headers["location"] + "/cancel"))
    ready = redis_api.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["redis"] == "down" and ready.json()["status"] == "ready"
    assert "sids_redis_up 0.0" in redis_api.get("/metrics").text
    listing = redis_api.post("/sampleapi/indicators?dataset=wdi")
    assert listing.status_code == 200 and len(listing.json()) > 10, "listings go on"

    private_redis.start()
    assert wait_for(lambda: redis_api.get("/health/ready").json()["redis"] == "up")
    assert "sids_redis_up 1.0" in redis_api.get("/metrics").text
    assert (
        redis_api.post(
            "/slowtest/run", json=slow(0, 1, "again"), headers={"Prefer": "respond-async"}
        ).status_code
        == 202
    )


def test_a_stalled_redis_stalls_neither_liveness_nor_metrics(redis_api, private_redis):
    private_redis.pause()
    model = {}
    request = threading.Thread(
        target=lambda: model.update(
            answer=redis_api.post(
                "/slowtest/run", json=slow(0, 1, "stalled"), headers={"Prefer": "respond-async"}
            )
        )
    )
    request.start()
    try:
        time.sleep(0.2)
        live, seconds = timed(lambda: redis_api.get("/health/live"))
        assert live.status_code == 200 and seconds < 0.5
        metrics, seconds = timed(lambda: redis_api.get("/metrics"))
        assert metrics.status_code == 200 and seconds < 1.5 and "sids_http_requests_total" in metrics.text
        request.join(timeout=10)
        assert_unavailable(model["answer"])
        assert redis_api.get("/health/ready").json()["redis"] == "down"
        assert "sids_redis_up 0.0" in redis_api.get("/metrics").text
    finally:
        private_redis.resume()
    assert wait_for(lambda: redis_api.get("/health/ready").json()["redis"] == "up")


def test_without_a_worker_a_synchronous_request_gets_503_after_worker_wait(redis_api, private_redis):
    answer, seconds = timed(lambda: redis_api.post("/slowtest/run", json=slow(0, 1, "nobody")))
    assert answer.status_code == 503 and "No queue worker is running" in answer.json()["detail"]
    assert 2 <= seconds < 3, "WORKER_WAIT_SECONDS=2, not the 3 s limit"
    queue = redis_api.app.state.jobs.connection
    assert queue.llen(QUEUE_KEY) == 0, "the abandoned job does not wait for a future worker"


def test_a_synchronous_timeout_stops_its_job_and_frees_the_worker(redis_api, private_redis):
    worker = ready_worker(redis_api, private_redis.url)
    try:
        assert redis_api.post("/slowtest/run", json=slow(0, 1, "warm")).status_code == 200
        overrun, seconds = timed(lambda: redis_api.post("/slowtest/run", json=slow(20, 1, "overrun")))
        assert overrun.status_code == 504 and "stopped" in overrun.json()["detail"] and seconds < 5
        assert wait_for(lambda: not children(worker.pid), timeout=3), "the work horse was killed"
        after, seconds = timed(lambda: redis_api.post("/slowtest/run", json=slow(0, 1, "after")))
        assert after.status_code == 200 and after.json()["tag"] == "after" and seconds < 3
    finally:
        stop_worker(worker)


def test_a_synchronous_request_that_gave_up_while_queued_never_runs(redis_api, private_redis):
    worker = ready_worker(redis_api, private_redis.url)
    try:
        busy = redis_api.post("/slowtest/run", json=slow(4, 8, "busy"), headers={"Prefer": "respond-async"})
        poll(redis_api, busy.headers["location"], until=lambda j: j["status"] == "running")
        gave_up = redis_api.post("/slowtest/run", json=slow(0, 1, "late"))
        assert gave_up.status_code == 504
        assert poll(redis_api, busy.headers["location"])["status"] == "succeeded"
        time.sleep(0.5)
        queue = redis_api.app.state.jobs
        assert queue.connection.llen(QUEUE_KEY) == 0
        assert asyncio.run(queue.stats())["completed"].get("succeeded", 0) == 1, "only the busy job ran"
    finally:
        stop_worker(worker)
