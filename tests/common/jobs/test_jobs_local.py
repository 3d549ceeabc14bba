"""Embedded mode (no other services): Prefer respond-async / wait, /jobs, cancellation, cache and ETag."""

import asyncio
import time

import pytest

from api_app.run_model import parse_prefer
from common.cache import LocalCache, cache_key, etag_matches
from helpers.app import poll_job as poll
from helpers.jobs import client_for

INDICATOR = "wdi-EG.ELC.ACCS.ZS"


def sample(year: str = "2015", **extra) -> dict:
    return {"indicator": INDICATOR, "year": year, **extra}


def slow(seconds: float = 0.5, steps: int = 10, tag: str = "") -> dict:
    return {"seconds": seconds, "steps": steps, "tag": tag}


@pytest.fixture(scope="module")
def local():
    with client_for(compute_workers=2) as client:
        yield client


def test_sync_answer_carries_etag_and_if_none_match_gets_304(client):
    first = client.post("/sampleapi/predict", json=sample())
    again = client.post("/sampleapi/predict", json=sample())
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and first.json()["year"] == "2015"
    etag = first.headers["etag"]
    assert etag == again.headers["etag"] and etag.startswith('"')
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        not_modified = client.post("/sampleapi/predict", json=sample(), headers={"If-None-Match": header})
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified.headers["etag"] == etag
    other = client.post("/sampleapi/predict", json=sample("2014"), headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag


def test_cache_key_is_canonical_and_names_model_endpoint_and_dataset_version():
    key = cache_key("m", "/m/predict", {"a": 1, "b": [1, 2]}, "v1")
    assert key == cache_key("m", "/m/predict", {"b": [1, 2], "a": 1}, "v1")
    others = {
        cache_key("n", "/m/predict", {"a": 1, "b": [1, 2]}, "v1"),
        cache_key("m", "/m/other", {"a": 1, "b": [1, 2]}, "v1"),
        cache_key("m", "/m/predict", {"a": 2, "b": [1, 2]}, "v1"),
        cache_key("m", "/m/predict", {"a": 1, "b": [1, 2]}, "v2"),
    }
    assert key not in others and len(others) == 4


def test_local_cache_is_a_bounded_lru_with_expiry():
    cache = LocalCache(max_entries=2, ttl_seconds=60)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a").body == b"1"
    cache.put("c", b"3")
    assert cache.get("b") is None and cache.get("a").body == b"1" and len(cache) == 2
    short = LocalCache(max_entries=2, ttl_seconds=0.05)
    short.put("a", b"1")
    time.sleep(0.1)
    assert short.get("a") is None


def test_prefer_header_parsing_follows_rfc_7240():
    assert parse_prefer([]) == (False, None)
    assert parse_prefer(["respond-async"]) == (True, None)
    assert parse_prefer(["Respond-Async, wait=10"]) == (True, 10.0)
    assert parse_prefer(["handling=lenient", "wait = 3; foo"]) == (False, 3.0)
    assert parse_prefer(["wait=soon, return=minimal"]) == (False, None)
    assert not etag_matches(None, '"x"') and etag_matches('W/"x"', '"x"')


def test_respond_async_gives_202_with_location_then_progress_and_result(local):
    accepted = local.post("/slowtest/run", json=slow(1.0, 20, "async"), headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202
    job_id = accepted.json()["id"]
    assert accepted.json() == {"id": job_id, "status": "queued"}
    assert accepted.headers["location"] == f"/jobs/{job_id}"
    assert accepted.headers["preference-applied"] == "respond-async"
    running = poll(
        local,
        accepted.headers["location"],
        until=lambda j: j["status"] == "running" and (j["progress"] or {}).get("fraction", 0) > 0,
    )
    assert running["status"] == "running" and running["progress"]["stage"] == "step"
    assert 0 < running["progress"]["fraction"] < 1 and running["result"] is None
    done = poll(local, accepted.headers["location"])
    assert done["status"] == "succeeded" and done["model"] == "slowtest" and done["error"] is None
    assert done["result"]["tag"] == "async" and done["result"]["countries"] > 200
    assert done["progress"] == {"stage": "done", "fraction": 1.0}
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    cached = local.post("/slowtest/run", json=slow(1.0, 20, "async"))
    assert cached.status_code == 200 and cached.json() == done["result"]


def test_wait_answers_when_done_in_time_else_202(local):
    quick = local.post("/slowtest/run", json=slow(0.1, 2, "quick"), headers={"Prefer": "wait=10"})
    assert quick.status_code == 200 and quick.json()["tag"] == "quick" and "etag" in quick.headers
    started = time.monotonic()
    late = local.post("/slowtest/run", json=slow(3, 30, "late"), headers={"Prefer": "wait=1"})
    assert late.status_code == 202 and 0.9 < time.monotonic() - started < 2.5
    assert late.headers["preference-applied"] == "wait=1"
    assert poll(local, late.headers["location"])["result"]["tag"] == "late"


def test_failed_job_reports_the_error_and_wait_returns_it_directly(local):
    accepted = local.post(
        "/sampleapi/predict", json=sample(indicator="nope"), headers={"Prefer": "respond-async"}
    )
    job = poll(local, accepted.headers["location"])
    assert job["status"] == "failed" and job["result"] is None
    assert job["error"]["code"] == "invalid_input" and "POST /sampleapi/indicators" in job["error"]["detail"]
    direct = local.post("/sampleapi/predict", json=sample(indicator="nope"), headers={"Prefer": "wait=5"})
    assert direct.status_code == 422 and direct.json()["errors"][0]["field"] == "body.indicator"


def test_cancel_a_running_job_stops_it_at_its_next_progress_report(local):
    accepted = local.post(
        "/slowtest/run", json=slow(10, 100, "cancel-me"), headers={"Prefer": "respond-async"}
    )
    location = accepted.headers["location"]
    poll(local, location, until=lambda j: j["status"] == "running")
    cancelled = local.post(f"{location}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["error"]["code"] == "cancelled"
    deadline = time.monotonic() + 2
    while local.app.state.processes.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert local.app.state.processes.in_flight == 0, "the cancelled computation should have stopped"
    assert local.get(location).json()["status"] == "cancelled"
    again = local.post(f"{location}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_cancel_a_queued_job_means_it_never_starts():
    with client_for(compute_workers=1, compute_queue_size=4) as client:
        busy = client.post("/slowtest/run", json=slow(1.0, 10, "busy"), headers={"Prefer": "respond-async"})
        queued = client.post("/slowtest/run", json=slow(0.2, 2, "never"), headers={"Prefer": "respond-async"})
        assert client.get(queued.headers["location"]).json()["status"] == "queued"
        assert client.post(queued.headers["location"] + "/cancel").json()["status"] == "cancelled"
        assert poll(client, busy.headers["location"])["status"] == "succeeded"
        time.sleep(0.3)
        never = client.get(queued.headers["location"]).json()
        assert never["status"] == "cancelled" and never["started_at"] is None and never["result"] is None


def test_a_full_compute_pool_refuses_new_jobs_with_503():
    with client_for(compute_workers=1, compute_queue_size=1) as client:
        for tag in ("a", "b"):
            assert (
                client.post(
                    "/slowtest/run", json=slow(1.0, 10, tag), headers={"Prefer": "respond-async"}
                ).status_code
                == 202
            )
        refused = client.post("/slowtest/run", json=slow(1.0, 10, "c"), headers={"Prefer": "respond-async"})
        assert refused.status_code == 503 and refused.json()["code"] == "overloaded"
        stats = asyncio.run(client.app.state.jobs.stats())
        assert stats["queued"] + stats["running"] == 2


def test_unknown_jobs_are_404_and_finished_results_expire(local):
    for job_id in ("0" * 32, "not-a-job", "x" * 64):
        assert local.get(f"/jobs/{job_id}").status_code == 404
        assert local.post(f"/jobs/{job_id}/cancel").status_code == 404
    executor = local.app.state.jobs
    ttl, executor.result_ttl = executor.result_ttl, 0.1
    try:
        accepted = local.post("/slowtest/run", json=slow(0, 1, "expire"), headers={"Prefer": "respond-async"})
        assert poll(local, accepted.headers["location"])["status"] == "succeeded"
        time.sleep(0.3)
        missing = local.get(accepted.headers["location"])
        assert missing.status_code == 404 and "expired" in missing.json()["detail"]
    finally:
        executor.result_ttl = ttl


def test_job_endpoints_are_documented(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"get"} <= set(paths["/jobs/{job_id}"]) and {"post"} <= set(paths["/jobs/{job_id}/cancel"])
    assert "/metrics" in paths


def test_identical_requests_in_flight_share_one_computation():
    from concurrent.futures import ThreadPoolExecutor

    with client_for(compute_workers=1, compute_queue_size=8) as client:
        started = time.monotonic()
        with ThreadPoolExecutor(5) as threads:
            answers = list(
                threads.map(lambda _: client.post("/slowtest/run", json=slow(1.0, 10, "herd")), range(5))
            )
        elapsed = time.monotonic() - started
        assert [a.status_code for a in answers] == [200] * 5
        assert len({a.content for a in answers}) == 1 and len({a.headers["etag"] for a in answers}) == 1
        assert elapsed < 2.5, f"five 1 s requests on one compute thread took {elapsed:.1f} s"
