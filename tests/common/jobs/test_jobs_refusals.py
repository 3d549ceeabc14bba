"""Refuse up front what cannot finish: a heavy request whose estimate exceeds its time limit is a
422 at once, with the estimate and the advice to send it as a job, which has a longer limit."""

import random
import time

import pytest

from helpers.app import running_app

TARGET = "wdi-EG.ELC.ACCS.ZS"
ASYNC = {"Prefer": "respond-async"}
WAIT = {"Prefer": "wait=60"}
"""For requests that must not be refused: answered in the same call, but with the job limit (the
1 s synchronous limit would make them flaky on a busy machine)."""
JOB_LIMIT = 600


def big_survey(rows: int = 2000, questions: int = 80) -> dict:
    """The survey that took 119 s: 2,000 rows x 80 categorical questions, max_k 20."""
    rng = random.Random(0)
    names = [f"q{i}" for i in range(questions)]
    metadata = [{"Question Name": name, "Type": "categorical", "Factor": "Everything"} for name in names]
    metadata += [
        {"Question Name": "lon", "Type": "GPS longitude", "Factor": "Location"},
        {"Question Name": "lat", "Type": "GPS latitude", "Factor": "Location"},
    ]
    data = [
        {**{name: rng.choice("abcde") for name in names}, "lon": 35 + rng.random(), "lat": -15 + rng.random()}
        for _ in range(rows)
    ]
    return {"data": data, "metadata": metadata, "factor": "Everything", "max_k": 20}


def assert_refused(answer, limit: float, synchronous: bool = True) -> float:
    """The 422 of a request expected to overrun `limit`; a synchronous one that a job could finish is
    told to send `Prefer: respond-async`."""
    assert answer.status_code == 422, answer.text
    body = answer.json()
    seconds = float(answer.headers["x-estimated-seconds"])
    assert body["code"] == "too_long" and seconds > limit
    assert f"about {seconds:.0f} s" in body["detail"]
    advice = synchronous and seconds <= JOB_LIMIT
    assert ("Prefer: respond-async" in body["detail"]) is advice, body["detail"]
    return seconds


def cancel(client, accepted) -> None:
    assert accepted.status_code == 202, accepted.text
    client.post(accepted.headers["location"] + "/cancel")


@pytest.fixture(scope="module")
def strict():
    """Every model, a 1 s limit for synchronous requests and 600 s for jobs."""
    with running_app(compute_timeout_seconds=1, job_timeout_seconds=JOB_LIMIT) as client:
        yield client


def test_the_big_survey_is_refused_at_once_and_accepted_as_a_job(strict):
    body = big_survey()
    started = time.monotonic()
    seconds = assert_refused(strict.post("/survey/clustering", json=body), 1)
    assert time.monotonic() - started < 10, "refused without clustering"
    assert 60 < seconds < JOB_LIMIT, "k = 1..20 on 2,000 x 80 answers took 119 s"
    cancel(strict, strict.post("/survey/clustering", json=body, headers=ASYNC))
    assert_refused(
        strict.post("/survey/clustering", json=big_survey(questions=200), headers=ASYNC),
        JOB_LIMIT,
        synchronous=False,
    )
    small = big_survey(rows=100, questions=5) | {"max_k": 3}
    answer = strict.post("/survey/clustering", json=small, headers=WAIT)
    assert answer.status_code == 200 and len(answer.json()["cluster_label"]) == 100


def test_twolvlimp_predict_and_backtest_are_refused_beyond_the_limit(strict):
    heavy = {
        "target_year": "2001",
        "dataset": "wdi",
        "target": TARGET,
        "interpolator": "KNNImputer",
        "scheme": "AFS",
        "number_predictor": 10,
        "estimators": 400,
        "model": "all",
        "interval": "quantile",
    }
    predicted = strict.post("/twolvlImp/estimate", json=heavy).json()["seconds"]
    seconds = assert_refused(strict.post("/twolvlImp/predict", json=heavy), 1)
    assert abs(seconds - predicted) <= 0.5, "the model's own estimator (rounded to the second)"
    backtest = assert_refused(strict.post("/twolvlImp/backtest", json=heavy | {"folds": 5}), 1)
    assert backtest > 5 * seconds
    cancel(strict, strict.post("/twolvlImp/predict", json=heavy, headers=ASYNC))
    invalid = strict.post("/twolvlImp/predict", json=heavy | {"target": "wdi-NOPE"})
    assert invalid.status_code == 422 and invalid.json()["code"] == "invalid_input", "validation comes first"


def test_statimpute_backtest_is_estimated_per_fold(strict):
    body = {"target": TARGET, "country": "CUB", "method": "akima", "direction": "both"}
    assert_refused(strict.post("/statimpute/backtest", json=body | {"folds": 10}), 1)
    assert strict.post("/statimpute/backtest", json=body | {"folds": 2}, headers=WAIT).status_code == 200


def test_batch_files_are_estimated_from_their_rows(strict):
    rows = "text\n" + "A fine phone that works well.\n" * 20_000
    files = {"file": ("reviews.csv", rows.encode(), "text/csv")}
    assert_refused(strict.post("/sentiment/batch", files=files), 1)
    cancel(strict, strict.post("/sentiment/batch", files=files, headers=ASYNC))
    few = {"file": ("reviews.csv", b"text\nGreat.\nAwful.\n", "text/csv")}
    assert strict.post("/sentiment/batch", files=few).status_code == 200
