"""flight_delay 1 is scored by a compute process; with COMPUTE_SCORING_WORKERS (default 1) it has one
reserved, so a predict (and a V2 infer) answers while every general compute process runs a long
computation, and even when their queue is full; a general computation never takes the reserved
process. With COMPUTE_SCORING_WORKERS=0 the predict waits for the computation, as before."""

import contextlib
import threading

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api_app.factory import create_app
from common.processes import GENERAL, SCORING
from common.settings import DEFAULT_MODEL_STORE_PATH
from helpers import jobs_slowmodel
from helpers.app import make_settings, poll_job, wait_ready, wait_started
from helpers.artifacts import flight, flight_columns, v2_flight
from helpers.processes import wait_until
from models._artifacts.store import load_skops

PATIENCE = 60.0
SENT = [flight(wind_gust=21.0), flight(precip=0.5, visib=0.5, wind_speed=30.0, wind_gust=None, month=1)]
LONG = {"seconds": 30, "steps": 300}
"""A computation that holds the general process until it is cancelled (the tests cancel it)."""


@pytest.fixture(scope="module")
def expected() -> np.ndarray:
    """What the flight_delay 1 pipeline itself answers for SENT."""
    boosting = load_skops(DEFAULT_MODEL_STORE_PATH / "flight_delay" / "1" / "model.skops")
    columns = flight_columns(SENT)
    probabilities: np.ndarray = boosting.predict_proba(pd.DataFrame(columns))
    return probabilities


@contextlib.contextmanager
def lane_app(scoring_workers: int, queue_size: int = 4):
    """flight_delay (and its V2 protocol), the slow test model, one general compute process (and
    `scoring_workers`)."""
    settings = make_settings(
        model_service=("sampleapi", "flight_delay", "kserve_v2"),
        compute_workers=1,
        compute_scoring_workers=scoring_workers,
        compute_queue_size=queue_size,
    )
    app = create_app(settings)
    app.include_router(jobs_slowmodel.router)
    with TestClient(app) as client:
        wait_ready(client)
        wait_started(client)
        yield client


def long_job(client: TestClient, tag: str) -> str:
    """A long computation as a job, running in the general compute process; its location."""
    accepted = client.post("/slowtest/run", json={**LONG, "tag": tag}, headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202
    location: str = accepted.headers["location"]
    poll_job(client, location, until=lambda job: job["status"] == "running", timeout=PATIENCE)
    return location


def predict(client: TestClient) -> np.ndarray:
    answer = client.post("/flight_delay/predict", json={"instances": SENT, "version": "1"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] == "1"
    return np.array(answer.json()["probabilities"])


def test_flight_delay_1_answers_while_the_general_process_computes_and_its_queue_is_full(expected):
    with lane_app(scoring_workers=1, queue_size=1) as client:
        processes = client.app.state.processes
        assert len(processes.pids(GENERAL)) == 1 and len(processes.pids(SCORING)) == 1
        location = long_job(client, "long")
        events: list[str] = []
        queued: dict = {}

        def queued_call() -> None:
            queued["answer"] = client.post("/slowtest/run", json={"seconds": 0, "steps": 1, "tag": "queued"})
            events.append("queued call answered")

        waiting = threading.Thread(target=queued_call)
        waiting.start()
        wait_until(lambda: processes.in_flight == 2, "the general queue is full", PATIENCE)
        # the general lane is full: another computation is refused at once, scoring is not
        refused = client.post("/slowtest/run", json={"seconds": 0, "steps": 1, "tag": "refused"})
        assert refused.status_code == 503 and refused.json()["code"] == "overloaded"
        np.testing.assert_array_equal(predict(client), expected)
        infer = client.post("/v2/models/flight_delay/versions/1/infer", json=v2_flight(SENT[0]))
        assert infer.status_code == 200
        assert infer.json()["outputs"][1]["data"][:2] == expected[0].tolist()
        events.append("scored")
        assert client.get(location).json()["status"] == "running", "the long computation still runs"
        events.append("cancelling")
        assert client.post(f"{location}/cancel").json()["status"] == "cancelled"
        waiting.join(PATIENCE)
        assert events == ["scored", "cancelling", "queued call answered"]
        # the queued computation ran in the general process that replaced the cancelled one
        pid = queued["answer"].json()["pid"]
        assert queued["answer"].status_code == 200 and processes.pids(GENERAL) == [pid]
        assert pid not in processes.pids(SCORING)


def test_a_general_computation_never_runs_in_the_reserved_process():
    with lane_app(scoring_workers=1) as client:
        processes = client.app.state.processes
        reserved = processes.pids(SCORING)
        pids = {
            client.post("/slowtest/run", json={"seconds": 0, "steps": 1, "tag": f"t{i}"}).json()["pid"]
            for i in range(5)
        }
        assert pids == set(processes.pids(GENERAL)) and not pids & set(reserved)
        assert processes.pids(SCORING) == reserved


def test_without_reserved_processes_flight_delay_1_waits_for_the_computation(expected):
    with lane_app(scoring_workers=0) as client:
        processes = client.app.state.processes
        assert processes.pids(SCORING) == [] and len(processes.pids()) == 1
        location = long_job(client, "long-0")
        events: list[str] = []
        scored: dict = {}

        def scoring() -> None:
            scored["probabilities"] = predict(client)
            events.append("scored")

        waiting = threading.Thread(target=scoring)
        waiting.start()
        wait_until(lambda: processes.in_flight == 2, "the predict waits for the general process", PATIENCE)
        events.append("cancelling")
        assert client.post(f"{location}/cancel").json()["status"] == "cancelled"
        waiting.join(PATIENCE)
        assert events == ["cancelling", "scored"]
        np.testing.assert_array_equal(scored["probabilities"], expected)
