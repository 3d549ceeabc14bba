"""Embedded mode: model work runs in persistent compute processes; the one that overruns its time
limit or is cancelled is killed and replaced, and its slot is free again at once."""

import asyncio
import os
import threading
import time

from common.processes import GENERAL
from helpers.app import make_settings
from helpers.app import poll_job as poll
from helpers.jobs import client_for
from helpers.jobs_slowmodel import SlowRequest, slow

FREE_WITHIN = 3.0
"""Seconds after a timeout or cancel within which the slot must serve again (the old thread pool
kept the slot until the abandoned computation ended, 20 s here)."""


def body(seconds: float, steps: int, tag: str) -> dict:
    return {"seconds": seconds, "steps": steps, "tag": tag}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_computations_run_in_persistent_processes_that_keep_their_state():
    with client_for(compute_workers=1) as client:
        first = client.post("/slowtest/run", json=body(0, 1, "one")).json()
        second = client.post("/slowtest/run", json=body(0, 1, "two")).json()
        assert first["pid"] == second["pid"] != os.getpid(), "one process, kept between calls"
        assert first["countries"] == second["countries"] > 200, "the data is there without loading it"
        assert client.app.state.processes.pids(GENERAL) == [first["pid"]]


def test_a_timed_out_computation_is_stopped_and_its_slot_serves_again_at_once():
    with client_for(compute_workers=1, compute_timeout_seconds=1) as client:
        before = client.post("/slowtest/run", json=body(0, 1, "before")).json()["pid"]
        started = time.monotonic()
        overrun = client.post("/slowtest/run", json=body(20, 1, "overrun"))
        assert overrun.status_code == 504 and overrun.json()["code"] == "timeout"
        assert "stopped" in overrun.json()["detail"] and time.monotonic() - started < FREE_WITHIN
        assert not alive(before), "the process that overran was killed"
        after = client.post("/slowtest/run", json=body(0.2, 2, "after"))
        assert after.status_code == 200 and after.json()["tag"] == "after"
        assert after.json()["pid"] != before, "a fresh process took its place"
        assert time.monotonic() - started < FREE_WITHIN + 1


def test_cancelling_a_running_job_frees_its_slot_at_once_even_without_progress_reports():
    with client_for(compute_workers=1) as client:
        accepted = client.post(
            "/slowtest/run", json=body(20, 1, "stuck"), headers={"Prefer": "respond-async"}
        )
        location = accepted.headers["location"]
        poll(client, location, until=lambda j: j["status"] == "running")
        victim = client.app.state.processes.pids(GENERAL)[0]
        cancelled_at = time.monotonic()
        assert client.post(f"{location}/cancel").json()["status"] == "cancelled"
        after = client.post("/slowtest/run", json=body(0, 1, "next"))
        assert after.status_code == 200 and after.json()["tag"] == "next"
        assert time.monotonic() - cancelled_at < FREE_WITHIN
        assert not alive(victim) and after.json()["pid"] != victim
        assert client.app.state.processes.in_flight == 0
        assert client.get(location).json()["status"] == "cancelled"


def test_jobs_have_their_own_longer_time_limit():
    with client_for(compute_workers=1, compute_timeout_seconds=1, job_timeout_seconds=10) as client:
        accepted = client.post("/slowtest/run", json=body(1.5, 3, "job"), headers={"Prefer": "respond-async"})
        assert poll(client, accepted.headers["location"])["status"] == "succeeded"
        synchronous = client.post("/slowtest/run", json=body(1.5, 3, "sync"))
        assert synchronous.status_code == 504


def test_liveness_answers_while_every_compute_slot_is_busy():
    with client_for(compute_workers=1) as client:
        work = threading.Thread(target=lambda: client.post("/slowtest/run", json=body(2, 20, "busy")))
        work.start()
        try:
            time.sleep(0.3)
            assert client.app.state.processes.in_flight == 1
            for _ in range(5):
                started = time.monotonic()
                assert client.get("/health/live").json() == {"status": "alive"}
                assert time.monotonic() - started < 1.0
        finally:
            work.join()


def test_thread_isolation_still_answers_and_reports_progress():
    """COMPUTE_ISOLATION=thread (the default where the platform cannot fork, e.g. Windows)."""
    with client_for(compute_isolation="thread", compute_workers=1) as client:
        answer = client.post("/slowtest/run", json=body(0, 1, "thread"))
        assert answer.status_code == 200 and answer.json()["pid"] == os.getpid()
        accepted = client.post("/slowtest/run", json=body(1, 10, "bar"), headers={"Prefer": "respond-async"})
        running = poll(
            client,
            accepted.headers["location"],
            until=lambda j: j["status"] == "running" and (j["progress"] or {}).get("fraction", 0) > 0,
        )
        assert 0 < running["progress"]["fraction"] < 1
        assert poll(client, accepted.headers["location"])["status"] == "succeeded"


def test_spawned_processes_load_the_data_they_need_themselves():
    """Where there is no fork (Windows), compute processes are spawned and load the data once each."""
    from common.processes import Call, DataLoader, ProcessPool

    pool = ProcessPool(1, 1, DataLoader(make_settings()), "process", start_method="spawn")
    try:
        reports = []
        call = Call.of(slow, SlowRequest(seconds=0.4, steps=2, tag="spawned"), "indicators")
        result = asyncio.run(pool.run(call, timeout=120, progress=lambda *report: reports.append(report)))
        assert b'"tag":"spawned"' in result and b'"countries":' in result
        assert [r[0] for r in reports] == ["step", "step"]
    finally:
        pool.shutdown()
