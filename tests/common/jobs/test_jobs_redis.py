"""Scale mode against a real Redis and real `python -m api_app.worker` processes: the same answers as
embedded mode, progress, cancellation, and no job lost when a worker is killed or stopped."""

import os
import signal
import time

import pytest

from helpers.app import poll_job as poll
from helpers.app import running_app
from helpers.jobs import client_for, start_worker
from helpers.workers import WORKER_RECOVERY_SECONDS as RECOVERY_SECONDS
from helpers.workers import children
from helpers.workers import stop_worker as stop
from models.twolvlImp.schemas import SIMPLE_EXAMPLE

INDICATOR = "wdi-EG.ELC.ACCS.ZS"
QUEUE_KEY = "rq:queue:sids-models"


def sample(year: str = "2015", **extra) -> dict:
    return {"indicator": INDICATOR, "year": year, **extra}


def slow(seconds: float, steps: int, tag: str) -> dict:
    return {"seconds": seconds, "steps": steps, "tag": tag}


@pytest.fixture
def api(redis_url, redis_conn):
    with client_for(job_backend="redis", redis_url=redis_url) as client:
        yield client


def test_worker_answers_like_embedded_mode_and_the_cache_is_shared(client, api, worker):
    embedded = client.post("/sampleapi/predict", json=sample("2012"))
    queued = api.post("/sampleapi/predict", json=sample("2012"))
    assert queued.status_code == 200 and queued.json() == embedded.json()
    assert queued.headers["etag"] == embedded.headers["etag"]
    stop(worker)
    cached = api.post(
        "/sampleapi/predict", json=sample("2012"), headers={"If-None-Match": queued.headers["etag"]}
    )
    assert cached.status_code == 304, "answered from the Redis cache without a worker"
    with client_for(job_backend="redis", redis_url=api.app.state.settings.redis_url) as other_api:
        assert other_api.post("/sampleapi/predict", json=sample("2012")).json() == embedded.json()


def test_async_job_shows_progress_and_result(api, worker):
    accepted = api.post("/slowtest/run", json=slow(2.0, 20, "redis"), headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202 and accepted.headers["location"] == f"/jobs/{accepted.json()['id']}"
    running = poll(
        api,
        accepted.headers["location"],
        until=lambda j: j["status"] == "running" and (j["progress"] or {}).get("fraction", 0) > 0,
    )
    assert running["status"] == "running" and 0 < running["progress"]["fraction"] < 1
    done = poll(api, accepted.headers["location"])
    assert done["status"] == "succeeded" and done["model"] == "slowtest"
    assert done["result"]["tag"] == "redis" and done["result"]["pid"] != os.getpid()
    assert done["progress"] == {"stage": "done", "fraction": 1.0}
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]


def test_errors_raised_in_the_worker_keep_their_status_and_message(api, worker):
    direct = api.post("/sampleapi/predict", json=sample(indicator="nope"))
    assert direct.status_code == 422 and direct.json()["errors"][0]["field"] == "body.indicator"
    accepted = api.post(
        "/sampleapi/predict", json=sample(indicator="nope"), headers={"Prefer": "respond-async"}
    )
    job = poll(api, accepted.headers["location"])
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_input"


def test_cancel_queued_and_running_jobs(api, worker, redis_conn):
    running = api.post("/slowtest/run", json=slow(20, 200, "running"), headers={"Prefer": "respond-async"})
    queued = api.post("/slowtest/run", json=slow(1, 2, "queued"), headers={"Prefer": "respond-async"})
    poll(api, running.headers["location"], until=lambda j: j["status"] == "running")
    assert api.get(queued.headers["location"]).json()["status"] == "queued"
    assert api.post(queued.headers["location"] + "/cancel").json()["status"] == "cancelled"
    assert api.post(running.headers["location"] + "/cancel").json()["status"] == "cancelled"
    assert api.post(running.headers["location"] + "/cancel").status_code == 409
    after = api.post("/slowtest/run", json=slow(0.1, 1, "after"), headers={"Prefer": "wait=20"})
    assert after.status_code == 200 and after.json()["tag"] == "after", "the worker goes on with new jobs"
    never = api.get(queued.headers["location"]).json()
    assert never["status"] == "cancelled" and never["started_at"] is None
    assert redis_conn.llen(QUEUE_KEY) == 0


def test_queue_depth_in_metrics_is_the_list_keda_measures(api, redis_conn):
    for tag in "abc":
        assert (
            api.post("/slowtest/run", json=slow(0, 1, tag), headers={"Prefer": "respond-async"}).status_code
            == 202
        )
    text = api.get("/metrics").text
    assert redis_conn.llen(QUEUE_KEY) == 3
    assert 'sids_job_queue_depth{backend="redis"} 3.0' in text
    assert 'sids_jobs{backend="redis",status="queued"} 3.0' in text


def _horse_running(api, location: str, worker_process) -> tuple[dict, list[int]]:
    job = poll(
        api,
        location,
        until=lambda j: j["status"] == "running" and (j["progress"] or {}).get("fraction", 0) > 0,
    )
    assert job["status"] == "running", job
    return job, children(worker_process.pid)


def test_a_job_whose_worker_is_killed_runs_again_on_another_worker(api, redis_url, redis_conn):
    first = start_worker(redis_url)
    try:
        accepted = api.post(
            "/slowtest/run", json=slow(2.0, 20, "survivor"), headers={"Prefer": "respond-async"}
        )
        _, horses = _horse_running(api, accepted.headers["location"], first)
        assert horses, "the worker forks a work horse per job"
        for pid in (*horses, first.pid):
            os.kill(pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.monotonic()
        second = start_worker(redis_url)
        try:
            done = poll(api, accepted.headers["location"], timeout=30 + RECOVERY_SECONDS)
            assert done["status"] == "succeeded", done
            assert done["result"]["tag"] == "survivor" and done["result"]["pid"] not in horses
            assert time.monotonic() - killed_at < RECOVERY_SECONDS + 15
        finally:
            stop(second)
    finally:
        stop(first)


def test_sigterm_lets_the_running_job_finish_then_the_worker_exits(api, redis_url, redis_conn):
    process = start_worker(redis_url)
    try:
        accepted = api.post(
            "/slowtest/run", json=slow(1.5, 15, "graceful"), headers={"Prefer": "respond-async"}
        )
        _horse_running(api, accepted.headers["location"], process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        done = api.get(accepted.headers["location"]).json()
        assert done["status"] == "succeeded" and done["result"]["tag"] == "graceful"
    finally:
        stop(process)


def test_imputed_matrices_built_by_one_job_serve_the_next_through_redis(client, redis_url, redis_conn):
    """Each job runs in a fresh work horse, so twolvlImp's in-process matrix cache dies with it; the
    matrices go to Redis instead, and a later job on the same year/target/imputer reads them back
    and answers exactly as embedded mode does."""
    base = {**SIMPLE_EXAMPLE, "estimators": 5}
    process = start_worker(redis_url, MODEL_SERVICE="twolvlImp")
    try:
        with running_app(
            model_service=("twolvlImp",), job_backend="redis", redis_url=redis_url
        ) as twolvl_api:
            assert redis_conn.keys("sids:shared:*") == []
            first = twolvl_api.post("/twolvlImp/predict", json=base)
            assert first.status_code == 200, first.text
            stored = redis_conn.keys("sids:shared:*")
            assert len(stored) == 1
            second = twolvl_api.post("/twolvlImp/predict", json=base | {"estimators": 7})
            assert second.status_code == 200 and redis_conn.keys("sids:shared:*") == stored
    finally:
        stop(process)
    for body, queued in ((base, first), (base | {"estimators": 7}, second)):
        assert queued.json() == client.post("/twolvlImp/predict", json=body).json()
