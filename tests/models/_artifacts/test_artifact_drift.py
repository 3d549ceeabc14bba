"""Input drift: PSI arithmetic, and GET /<model>/drift after real predictions."""

import numpy as np
import pytest

from helpers.artifacts import artifact_app, copy_store, flight, flights, texts
from models._artifacts import drift


def test_psi_is_zero_for_identical_and_large_for_shifted_distributions():
    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, 5000)
    profile = drift.numeric_profile(train)
    same = drift.tabular_drift({"features": {"x": profile}}, {"x": rng.normal(0, 1, 5000)})
    shifted = drift.tabular_drift({"features": {"x": profile}}, {"x": rng.normal(1.5, 1, 5000)})
    assert same["features"]["x"]["psi"] < 0.02 and same["features"]["x"]["level"] == "stable"
    assert shifted["features"]["x"]["psi"] > 0.25 and shifted["features"]["x"]["level"] == "significant"


def test_category_profile_counts_unseen_and_missing_values():
    profile = drift.category_profile(["a"] * 50 + ["b"] * 50)
    report = drift.tabular_drift({"features": {"c": profile}}, {"c": ["z"] * 50 + [None] * 50})
    assert report["features"]["c"]["level"] == "significant"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    store = copy_store(tmp_path_factory.mktemp("drift"), {"sentiment": ["1"], "flight_delay": ["2"]})
    with artifact_app(store, models=("sentiment", "flight_delay")) as test_client:
        yield test_client


def test_drift_needs_enough_samples(client):
    body = client.get("/flight_delay/drift").json()
    assert body["status"] == "insufficient_data" and body["samples"] == 0 and body["version"] == "2"
    assert client.get("/flight_delay/drift", params={"version": "1"}).status_code == 422


def test_text_drift_reports_unknown_tokens(client):
    client.post("/sentiment/predict", json=texts(*["qwzx vbnm plokij"] * 40))
    body = client.get("/sentiment/drift").json()
    assert body["samples"] == 40 and body["unknown_token_share"] == 1.0
    assert set(body["features"]) == {"tokens_per_text"}


def test_tabular_drift_flags_the_shifted_feature_only(client):
    january_at_lga = [flight(month=1, origin="LGA", distance=float(300 + i)) for i in range(60)]
    client.post("/flight_delay/predict", json=flights(*january_at_lga))
    body = client.get("/flight_delay/drift").json()
    assert body["samples"] == 60 and body["status"] == "significant"
    assert body["features"]["month"]["level"] == "significant"
    assert body["features"]["carrier"]["level"] == "significant"  # every flight is UA
    assert set(body["features"]) == set(flight())
