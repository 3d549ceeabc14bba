"""POST /<model>/predict on the shipped store: answers, versions, A/B split, reload, bad input."""

import json
import threading
import time

import numpy as np
import pytest

from common.resources import ResourceStore
from helpers.artifacts import FLIGHT, artifact_app, copy_store, flight, flights, texts, write_routing
from models._artifacts import store as model_store


@pytest.fixture(scope="module")
def client():
    with artifact_app() as test_client:
        yield test_client


def test_sentiment_predicts_the_obvious_cases(client):
    body = client.post(
        "/sentiment/predict",
        json=texts("I love this phone, it works great.", "Awful food and rude staff, never again."),
    ).json()
    assert body["model"] == "sentiment" and body["version"] == "1"
    assert body["labels"] == ["negative", "positive"]
    assert body["predictions"] == ["positive", "negative"]
    for row in body["probabilities"]:
        assert len(row) == 2 and abs(sum(row) - 1) < 1e-9
    assert body["probabilities"][0][1] > 0.8 and body["probabilities"][1][0] > 0.8


def test_every_sentiment_version_agrees_with_its_pipeline(client):
    """The inline fast path gives exactly the scikit-learn pipeline's probabilities."""
    store = model_store.load_model_store(client.app.state.settings.model_store_path)
    sample = ["Not good.", "The plot was great but the acting was terrible!", "", "ok"]
    for version, stored in store.get("sentiment").versions.items():
        answer = client.post("/sentiment/predict", json=texts(*sample, version=version)).json()
        expected = stored.artifact.predict_proba(sample)
        assert answer["version"] == version
        np.testing.assert_allclose(answer["probabilities"], expected, rtol=0, atol=1e-9)


def test_large_request_matches_small_ones(client):
    many = ["great value"] * 40 + ["terrible"] * 40
    big = client.post("/sentiment/predict", json=texts(*many)).json()
    small = client.post("/sentiment/predict", json=texts("great value", "terrible")).json()
    assert big["probabilities"][0] == pytest.approx(small["probabilities"][0], abs=1e-12)
    assert big["probabilities"][-1] == pytest.approx(small["probabilities"][1], abs=1e-12)


@pytest.mark.parametrize("version", ["1", "2"])
def test_flight_delay_accepts_objects_and_vectors_alike(client, version):
    vector = [FLIGHT[name] for name in FLIGHT]
    body = client.post("/flight_delay/predict", json=flights(FLIGHT, vector, version=version)).json()
    assert body["version"] == version and body["labels"] == ["on_time", "delayed"]
    assert body["probabilities"][0] == pytest.approx(body["probabilities"][1])
    assert 0 < body["probabilities"][0][1] < 1


def test_flight_weather_changes_the_answer(client):
    calm = flight(precip=0.0, visib=10.0, wind_speed=3.0, month=10, sched_dep_hour=7.0)
    storm = flight(precip=0.5, visib=0.5, wind_speed=30.0, month=7, sched_dep_hour=19.0)
    body = client.post("/flight_delay/predict", json=flights(calm, storm, version="1")).json()
    assert body["probabilities"][1][1] > body["probabilities"][0][1]


def test_missing_features_count_as_unknown(client):
    body = client.post("/flight_delay/predict", json=flights({"carrier": "UA"}, version="2"))
    assert body.status_code == 200 and len(body.json()["predictions"]) == 1


def test_versions_and_metadata(client):
    listing = client.get("/flight_delay/versions").json()
    assert listing["default_version"] == "1"
    assert listing["traffic_split"] == {"1": 0.8, "2": 0.2}
    assert [v["format"] for v in listing["versions"]] == ["skops", "onnx"]
    meta = client.get("/sentiment/metadata", params={"version": "2"}).json()
    assert meta["version"] == "2" and meta["input_schema"] == {"kind": "text"}
    assert meta["metrics"]["held_out"]["accuracy"] > 0.8
    assert client.get("/sentiment/metadata", params={"version": "5"}).status_code == 422


@pytest.mark.parametrize(
    "path, body, fragment",
    [
        ("/sentiment/predict", {"instances": []}, "at least 1"),
        ("/sentiment/predict", {"instances": [3]}, "valid string"),
        ("/sentiment/predict", {"instances": ["x" * 5001]}, "5000"),
        ("/sentiment/predict", {"instances": ["fine"], "version": "9"}, "served versions: 1, 2"),
        ("/sentiment/predict", {"texts": ["fine"]}, "instances"),
        ("/flight_delay/predict", {"instances": [[1, 2, 3]]}, "expected 18 in this order: month"),
        ("/flight_delay/predict", {"instances": [{"colour": "red"}]}, "colour"),
        ("/flight_delay/predict", {"instances": [flight(month="July")]}, "month"),
        ("/flight_delay/predict", {"instances": [flight(carrier=7)]}, "carrier"),
        ("/flight_delay/predict", {"instances": [[*[FLIGHT[n] for n in FLIGHT][:-1], "ten"]]}, "visib"),
    ],
)
def test_bad_input_is_a_422_that_says_what_is_valid(client, path, body, fragment):
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]


def test_too_many_instances_points_to_batch(client):
    response = client.post("/sentiment/predict", json=texts(*["a"] * 10_001))
    assert response.status_code == 422 and "10000" in response.json()["detail"]


def test_params_and_swagger_examples_work(client):
    entries = {e["model"]: e for e in client.get("/params").json()}
    assert [i["parameter"] for i in entries["sentiment"]["inputs"]] == ["instances", "version"]
    assert entries["sentiment"]["inputs"][1]["req_endpoint"]["endpoint"] == "/versions"
    assert entries["kserve_v2"] == {"model": "kserve_v2", "label": "Open Inference Protocol (KServe V2)"}
    spec = client.get("/openapi.json").json()
    for model in ("sentiment", "flight_delay"):
        ref = spec["paths"][f"/{model}/predict"]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ]["$ref"].rsplit("/", 1)[-1]
        example = spec["components"]["schemas"][ref]["properties"]["instances"]["examples"][0]
        response = client.post(f"/{model}/predict", json={"instances": example})
        assert response.status_code == 200 and len(response.json()["predictions"]) == len(example)


def test_ab_split_follows_the_weights_and_reload_picks_up_changes(tmp_path, monkeypatch):
    store = copy_store(
        tmp_path / "store",
        {"sentiment": ["1", "2"]},
        routing={"sentiment": {"default": "1", "split": {"1": 0.7, "2": 0.3}}},
    )
    with artifact_app(store, models=("sentiment",)) as client:
        seen = [client.post("/sentiment/predict", json=texts("fine")).json()["version"] for _ in range(600)]
        share = seen.count("2") / len(seen)
        assert 0.25 < share < 0.35, share
        assert client.post("/sentiment/predict", json=texts("fine", version="1")).json()["version"] == "1"

        write_routing(store / "sentiment", {"default": "2"})
        assert client.post("/sentiment/reload").json()["default_version"] == "2"
        assert {client.post("/sentiment/predict", json=texts("x")).json()["version"] for _ in range(20)} == {
            "2"
        }

        monkeypatch.setattr(model_store, "RECHECK_SECONDS", 0.0)
        (store / "sentiment" / "3").mkdir()
        (store / "sentiment" / "3" / "metadata.json").write_text(json.dumps({"name": "sentiment"}))
        time.sleep(0.01)
        listing = client.get("/sentiment/versions").json()
        assert "lacks" in listing["skipped"]["3"] and listing["default_version"] == "2"


def test_a_request_during_store_loading_waits_for_it(client):
    """A cold start's first request is answered once the store is loaded, not refused with 503."""
    ready = client.app.state.resources
    loading = ResourceStore()
    loading.expect("model_store")
    client.app.state.resources = loading
    timer = threading.Timer(0.5, loading.set_ready, ("model_store", ready.get("model_store")))
    try:
        started = time.monotonic()
        timer.start()
        response = client.post("/sentiment/predict", json=texts("great"))
        v2 = client.get("/v2/models/sentiment")
        waited = time.monotonic() - started
    finally:
        timer.cancel()
        client.app.state.resources = ready
    assert response.status_code == 200 and response.json()["predictions"] == ["positive"]
    assert v2.status_code == 200 and v2.json()["name"] == "sentiment"
    assert waited >= 0.45
