"""The API process serves every artifact model without loading scikit-learn, SciPy, skops, onnx or
onnxruntime (issue 18): text pipelines from their linear form, other pipelines and ONNX models through
compute processes, with the same answers as the pipelines and ONNX sessions themselves."""

import json

import numpy as np
import pandas as pd
import pytest

import models.kserve_v2
import models.sentiment
from common.settings import DEFAULT_MODEL_STORE_PATH
from helpers.app import running_app
from helpers.artifacts import (
    ARTIFACT_MODELS,
    artifact_app,
    copy_store,
    flight,
    flight_columns,
    texts,
    v2_flight,
)
from helpers.probe import run_probe
from models._artifacts import derived, linear, pipelines
from models._artifacts.onnx_session import OnnxPredictor
from models._artifacts.router import registry_of
from models._artifacts.store import load_model_store, load_skops
from models.flight_delay.spec import SPEC as FLIGHTS

LIBRARIES = ("sklearn", "scipy", "skops", "onnx", "onnxruntime")
TEXTS = ["I love this phone, it works great.", "Awful food and rude staff, never again.", "", "ok"]
FLIGHTS_SENT = [
    flight(wind_gust=21.0),
    flight(precip=0.5, visib=0.5, wind_speed=30.0, wind_gust=None, month=7),
]

PROBE = """
import io, json, sys
sys.path.insert(0, "tests")
from fastapi.testclient import TestClient
from api_app.factory import create_app
from helpers.app import make_settings, wait_ready, wait_started

texts, flights, v2_body, models, libraries = (json.loads(a) for a in sys.argv[1:6])
app = create_app(make_settings(model_service=tuple(models)))
answers = {}
with TestClient(app) as client:
    assert wait_ready(client)["status"] == "ready"
    wait_started(client)
    for version in ("1", "2"):
        answers[f"sentiment/{version}"] = client.post(
            "/sentiment/predict", json={"instances": texts, "version": version}
        ).json()
        answers[f"flight_delay/{version}"] = client.post(
            "/flight_delay/predict", json={"instances": flights, "version": version}
        ).json()
    answers["v2/sentiment"] = client.post(
        "/v2/models/sentiment/infer",
        json={"inputs": [{"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": texts}]},
    ).json()
    answers["v2/flight_delay/1"] = client.post("/v2/models/flight_delay/versions/1/infer", json=v2_body).json()
    answers["v2/flight_delay/2"] = client.post("/v2/models/flight_delay/versions/2/infer", json=v2_body).json()
    csv = "\\n".join(["text", *texts[:2]]).encode()
    batch = client.post("/sentiment/batch", files={"file": ("t.csv", csv)})
    lines = "\\n".join(json.dumps(f) for f in flights).encode()
    flights_batch = client.post("/flight_delay/batch", files={"file": ("f.jsonl", lines)}, data={"version": "1"})
    answers["batches"] = [batch.status_code, flights_batch.status_code]
    answers["flight_batch"] = [json.loads(line) for line in flights_batch.text.splitlines()]
    answers["drift"] = client.get("/flight_delay/drift", params={"version": "1"}).json()["samples"]
    answers["loaded"] = sorted({m.split(".")[0] for m in sys.modules} & set(libraries))
print(json.dumps(answers))
"""


def _serve_in_a_fresh_process(cache_dir) -> dict:
    args = [TEXTS, FLIGHTS_SENT, v2_flight(FLIGHTS_SENT[0]), ARTIFACT_MODELS, LIBRARIES]
    env = {"STATE_DIR": str(cache_dir.parent / "state"), "DATA_CACHE_DIR": str(cache_dir)}
    answers: dict = run_probe(PROBE, [json.dumps(arg) for arg in args], env)
    return answers


def test_the_api_process_serves_every_artifact_model_without_scikit_learn(tmp_path):
    # a first start (empty cache folder: a child process verifies the artifacts), then a second one
    first = _serve_in_a_fresh_process(tmp_path / "cache")
    second = _serve_in_a_fresh_process(tmp_path / "cache")
    for answers in (first, second):
        assert answers["loaded"] == []
        # the version-1 requests: predict, V2 infer (one flight), batch
        assert answers["batches"] == [200, 200] and answers["drift"] == 2 * len(FLIGHTS_SENT) + 1
    assert {k: v for k, v in first.items() if k != "loaded"} == {
        k: v for k, v in second.items() if k != "loaded"
    }

    for version in ("1", "2"):
        pipeline = load_skops(DEFAULT_MODEL_STORE_PATH / "sentiment" / version / "model.skops")
        answer = np.array(first[f"sentiment/{version}"]["probabilities"])
        # exactly what the linear form computes, within 1e-9 of the pipeline
        assert np.array_equal(answer, linear.from_pipeline(pipeline).predict_proba(TEXTS))
        np.testing.assert_allclose(
            answer, pipeline.predict_proba(TEXTS), rtol=0, atol=linear.AGREEMENT_TOLERANCE
        )
    assert (
        first["v2/sentiment"]["outputs"][1]["data"]
        == np.ravel(first["sentiment/1"]["probabilities"]).tolist()
    )

    # flight_delay 1 is scored by a compute process: exactly the pipeline's probabilities
    boosting = load_skops(DEFAULT_MODEL_STORE_PATH / "flight_delay" / "1" / "model.skops")
    columns = flight_columns(FLIGHTS_SENT)
    expected = boosting.predict_proba(pd.DataFrame(columns))
    assert first["flight_delay/1"]["version"] == "1"
    assert np.array_equal(np.array(first["flight_delay/1"]["probabilities"]), expected)
    # (a scored JSON-lines file holds 10 decimals)
    assert [row["probability_delayed"] for row in first["flight_batch"]] == pytest.approx(
        expected[:, 1], abs=1e-10
    )
    assert first["v2/flight_delay/1"]["outputs"][1]["data"][:2] == expected[0].tolist()

    # flight_delay 2 (ONNX) is scored by a compute process too: exactly what a session computes here
    session = OnnxPredictor(
        (DEFAULT_MODEL_STORE_PATH / "flight_delay" / "2" / "model.onnx").read_bytes(),
        FLIGHTS.kind,
        FLIGHTS.feature_names,
    )
    onnx_expected = session.predict_proba(columns)
    assert first["flight_delay/2"]["version"] == "2"
    assert np.array_equal(np.array(first["flight_delay/2"]["probabilities"]), onnx_expected)
    assert first["v2/flight_delay/2"]["outputs"][1]["data"][:2] == onnx_expected[0].tolist()
    # the two versions are different models that agree on which flights are likely late
    assert (np.abs(onnx_expected - expected) < 0.5).all()


def _sentiment_entry(cache, version: str):
    metadata = json.loads((DEFAULT_MODEL_STORE_PATH / "sentiment" / version / "metadata.json").read_text())
    return cache / derived.entry_name(metadata["artifact_sha256"])


def test_a_damaged_linear_form_only_sends_the_texts_to_a_compute_process(tmp_path, caplog):
    store = copy_store(tmp_path / "store", {"sentiment": ["1"]})
    with running_app(model_service=("sentiment",), model_store_path=store, data_cache_dir=tmp_path / "cache"):
        pass  # the first start writes the entry
    (_sentiment_entry(tmp_path / "cache", "1") / linear.LINEAR_FILE).write_text("{")
    with running_app(
        model_service=("sentiment",), model_store_path=store, data_cache_dir=tmp_path / "cache"
    ) as client:
        answer = client.post("/sentiment/predict", json=texts(*TEXTS)).json()
        served = registry_of(client.app).model("sentiment")
        assert served is not None and served.versions["1"].offloaded()
    assert "linear form" in caplog.text and "skipped" in caplog.text
    pipeline = load_skops(store / "sentiment" / "1" / "model.skops")
    assert np.array_equal(np.array(answer["probabilities"]), pipeline.predict_proba(TEXTS))


def test_with_compute_threads_the_pipeline_and_the_onnx_model_are_scored_in_this_process(tmp_path):
    bodies = [{"instances": FLIGHTS_SENT, "version": version} for version in ("1", "2")]
    with artifact_app(models=("flight_delay",)) as client:
        served = registry_of(client.app).model("flight_delay")
        in_processes = [client.post("/flight_delay/predict", json=body).json() for body in bodies]
        assert served is not None and all(served.versions[v].offloaded() for v in ("1", "2"))
    with running_app(model_service=("flight_delay",), compute_isolation="thread") as client:
        served = registry_of(client.app).model("flight_delay")
        in_threads = [client.post("/flight_delay/predict", json=body).json() for body in bodies]
        assert served is not None and not any(served.versions[v].offloaded() for v in ("1", "2"))
        onnx_version = served.versions["2"]
        # one session per artifact in a process: the one the compute warm-up built serves the requests
        assert onnx_version.predictor is pipelines.pipeline(pipelines.target(onnx_version.stored))
        assert pipelines.loaded() >= {onnx_version.stored.metadata["artifact_sha256"]}
    assert in_threads == in_processes
    assert [answer["version"] for answer in in_threads] == ["1", "2"]


def test_the_compute_warm_up_deserializes_the_pipelines_compute_processes_score(tmp_path):
    store = load_model_store(
        copy_store(tmp_path / "store", {"sentiment": ["1", "2"], "flight_delay": ["1", "2"]}),
        [tmp_path / "cache"],
    )
    shas = {}
    for name in ("sentiment", "flight_delay"):
        model = store.get(name)
        assert model is not None
        shas.update({(name, v): stored.metadata["artifact_sha256"] for v, stored in model.versions.items()})
    models.sentiment.COMPUTE_WARMUP({"model_store": store})  # its versions have linear forms: nothing
    assert not {shas["sentiment", "1"], shas["sentiment", "2"]} & pipelines.loaded()
    models.kserve_v2.COMPUTE_WARMUP({"model_store": store})
    assert {shas["flight_delay", "1"], shas["flight_delay", "2"]} <= pipelines.loaded()
    assert not {shas["sentiment", "1"], shas["sentiment", "2"]} & pipelines.loaded()
