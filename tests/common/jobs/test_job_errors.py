"""One rule for what a model function raises, on every path (synchronous, `Prefer: wait`, embedded
job, queue worker): bad input it raises as `InvalidInput` is a 422 naming the field; anything else,
a bare ValueError included, is a 500 `internal_error` that names the request id (and the job) and
is logged with its traceback, never shown to the caller."""

import contextlib
import logging
import os
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from common.processes import GENERAL
from helpers.app import poll_job as poll
from helpers.app import wait_ready
from helpers.jobs import app_with_slow_model, client_for, start_worker
from helpers.jobs_slowmodel import BUG_MESSAGE
from helpers.workers import stop_worker

PATHS = {"sync": {}, "wait": {"Prefer": "wait=20"}, "job": {"Prefer": "respond-async"}}


def outcome(client, path: str, fail: str) -> tuple[int | None, dict, str]:
    """(HTTP status, error body, request id) of a failing slowtest request sent on `path`; a job's
    status is None and its body is the job's `error`."""
    request_id = uuid.uuid4().hex
    response = client.post(
        "/slowtest/run",
        json={"seconds": 0, "steps": 1, "tag": request_id[:12], "fail": fail},
        headers={"X-Request-ID": request_id, **PATHS[path]},
    )
    assert response.headers["x-request-id"] == request_id
    if path != "job":
        return response.status_code, response.json(), request_id
    assert response.status_code == 202, response.text
    job = poll(client, response.headers["location"])
    assert job["status"] == "failed", job
    result = client.get(response.headers["location"] + "/result")
    assert result.status_code == 409 and job["error"]["detail"] in result.json()["detail"]
    return None, job["error"], request_id


def assert_bad_input(status: int | None, error: dict) -> None:
    assert status in (422, None)
    assert error["code"] == "invalid_input" and "cannot be run here" in error["detail"]
    assert [e["field"] for e in error["errors"]] == ["body.tag"] and error["error_count"] == 1


def assert_internal_error(status: int | None, error: dict, request_id: str) -> None:
    assert status in (500, None)
    assert error["code"] == "internal_error" and error["errors"] == []
    assert f"request id {request_id}" in error["detail"] and "has been logged" in error["detail"]
    assert BUG_MESSAGE not in error["detail"] and "ValueError" not in error["detail"]


@pytest.fixture
def stderr_log():
    """Log lines of job code also on file descriptor 2, which compute processes keep (they close
    every other inherited file), so `capfd` sees what they log."""
    handler = logging.StreamHandler(open(2, "w", closefd=False))  # noqa: SIM115  (closed below)
    logger = logging.getLogger("common.jobs.types")
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)
    handler.close()


@contextlib.contextmanager
def embedded_app(isolation: str):
    """The app as a server runs it: an unexpected error is answered, not raised into the test."""
    app = app_with_slow_model(compute_isolation=isolation)
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_ready(client)
        if isolation == "process":  # forked just after ready: not while requests write log lines
            deadline = time.monotonic() + 30
            while len(app.state.processes.pids(GENERAL)) < app.state.settings.compute_workers:
                assert time.monotonic() < deadline, "the compute processes did not start"
                time.sleep(0.05)
        yield client


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_every_embedded_path_follows_the_rule(isolation, capfd, stderr_log, caplog):
    with embedded_app(isolation) as client, caplog.at_level(logging.ERROR):
        for path in PATHS:
            status, error, _ = outcome(client, path, "invalid")
            assert_bad_input(status, error)
            status, error, request_id = outcome(client, path, "bug")
            assert_internal_error(status, error, request_id)
            if path != "sync":
                assert ", job " in error["detail"], "a job's failure names the job too"
            if isolation == "thread":  # logged in this process
                record = next(r for r in caplog.records if request_id in r.getMessage())
                assert record.exc_info is not None and record.exc_info[1].args == (BUG_MESSAGE,)
            else:  # logged by the compute process, whose stderr is this one's
                logged = capfd.readouterr().err
                assert f"computation failed (request {request_id}" in logged, logged[-2000:]
                assert f"ValueError: {BUG_MESSAGE}" in logged, "with its traceback"


@pytest.fixture
def queue_api(redis_url, redis_conn):
    with client_for(job_backend="redis", redis_url=redis_url) as client:
        yield client


@pytest.fixture
def logging_worker(redis_url, redis_conn, tmp_path):
    """A queue worker whose stderr (its log) goes to a file: (process, log path)."""
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log_file:
        saved = os.dup(2)
        os.dup2(log_file.fileno(), 2)
        try:
            process = start_worker(redis_url)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    yield log_path
    stop_worker(process)


def test_the_queue_worker_follows_the_same_rule(queue_api, logging_worker):
    for path in PATHS:
        status, error, _ = outcome(queue_api, path, "invalid")
        assert_bad_input(status, error)
        status, error, request_id = outcome(queue_api, path, "bug")
        assert_internal_error(status, error, request_id)
        assert ", job " in error["detail"]
        logged = logging_worker.read_text()
        assert f"computation failed (request {request_id}" in logged, logged[-2000:]
        assert f"ValueError: {BUG_MESSAGE}" in logged, "with its traceback"
