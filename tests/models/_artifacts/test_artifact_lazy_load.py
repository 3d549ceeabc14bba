"""Artifacts recorded in the cache folder are verified at start-up and read after readiness (their
serving form; a pipeline or ONNX model that compute processes score is loaded there): the app is ready before
they load, a request arriving meanwhile waits for the load and gets the right answer, and an artifact
that fails only when deserialized is still reported (issue 18)."""

import json
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers.app import running_app, wait_started
from helpers.artifacts import ARTIFACT_MODELS, copy_store, flights, texts, v2_text
from models._artifacts import derived
from models._artifacts import store as model_store

REQUESTS = (
    ("/sentiment/predict", texts("I love this phone.", "Awful food, never again.", version="1")),
    ("/sentiment/predict", texts("I love this phone.", "Awful food, never again.", version="2")),
    ("/flight_delay/predict", flights(version="1")),
    ("/flight_delay/predict", flights(version="2")),
    ("/v2/models/sentiment/infer", v2_text("The battery lasts all day, great phone.")),
)


def _app(store, cache):
    return running_app(
        model_service=ARTIFACT_MODELS, started=False, model_store_path=store, data_cache_dir=cache
    )


def _answers(client) -> list[dict]:
    answers = [client.post(path, json=body) for path, body in REQUESTS]
    assert [a.status_code for a in answers] == [200] * len(REQUESTS)
    return [a.json() for a in answers]


@pytest.fixture
def recorded_store(tmp_path):
    """A store of every shipped version whose cache folder holds their entries (a second start)."""
    store = copy_store(tmp_path / "store", {"sentiment": ["1", "2"], "flight_delay": ["1", "2"]})
    model_store.load_model_store(store, [tmp_path / "cache"])
    return store, tmp_path / "cache"


def test_ready_before_the_artifacts_load_and_a_request_meanwhile_waits_for_them(recorded_store, monkeypatch):
    store, cache = recorded_store
    with _app(store, cache) as client:
        wait_started(client)
        expected = _answers(client)

    release, loads = threading.Event(), []
    read_form = model_store._serving_form

    def held_back(*args, **kwargs):
        loads.append(args[0].parent.name)
        release.wait(60)
        return read_form(*args, **kwargs)

    monkeypatch.setattr(model_store, "_serving_form", held_back)
    with _app(store, cache) as client:
        assert client.get("/health/ready").status_code == 200
        resource = client.app.state.resources.get("model_store")
        models = [resource.get(name) for name in ("sentiment", "flight_delay")]
        versions = [v for model in models if model is not None for v in model.versions.values()]
        assert len(versions) == 4 and not any(v.form.loaded or v.content.loaded for v in versions)
        with ThreadPoolExecutor(len(REQUESTS)) as pool:
            pending = [pool.submit(client.post, path, json=body) for path, body in REQUESTS]
            time.sleep(0.5)
            assert not any(p.done() for p in pending)  # they wait for the loads ...
            started = time.monotonic()
            assert client.get("/health/live").status_code == 200  # ... off the event loop
            assert time.monotonic() - started < 2
            assert loads  # the warm-up started them
            release.set()
            answers = [p.result(timeout=60) for p in pending]
        assert [a.status_code for a in answers] == [200] * len(REQUESTS)
        assert [a.json() for a in answers] == expected
        wait_started(client)
        # sentiment 1 and 2 and flight_delay 1 read here; flight_delay 2's ONNX bytes are read by the
        # compute process that scores it
        assert sorted(loads) == ["1", "1", "2"]
        assert all(v.form.loaded == (v.format != "onnx") for v in versions)
        assert not any(v.content.loaded for v in versions)  # nothing deserialized in this process


def _forge_broken(folder) -> None:
    """Replace the artifact by a raw pickle with a matching sha256, and forge the entry that says it
    loaded before: only deserializing it can tell."""
    artifact = folder / "model.skops"
    artifact.write_bytes(pickle.dumps({"model": "pickled"}))
    metadata = folder / "metadata.json"
    sha = model_store.sha256_file(artifact)
    metadata.write_text(json.dumps({**json.loads(metadata.read_text()), "artifact_sha256": sha}))
    entry = folder.parents[2] / "cache" / derived.entry_name(sha)
    entry.mkdir(parents=True, exist_ok=True)  # both forged artifacts are the same pickle
    (entry / derived.VOCABULARIES_FILE).write_text("[]")


def test_an_artifact_that_fails_only_when_deserialized_is_reported_after_readiness(tmp_path):
    store = copy_store(tmp_path / "store", {"sentiment": ["1", "2"], "flight_delay": ["1"]})
    model_store.load_model_store(store, [tmp_path / "cache"])
    _forge_broken(store / "sentiment" / "2")
    _forge_broken(store / "flight_delay" / "1")
    with _app(store, tmp_path / "cache") as client:
        wait_started(client)
        report = client.get("/health/ready")
        models = report.json()["models"]
        assert report.status_code == 503
        assert models["sentiment"]["state"] == "ready"
        assert "version 2 skipped: model.skops is not a readable skops file" in models["sentiment"]["detail"]
        assert models["flight_delay"]["state"] == "failed"
        assert (
            "version 1 skipped: model.skops is not a readable skops file" in models["flight_delay"]["error"]
        )
        assert client.post("/sentiment/predict", json=texts("fine")).json()["version"] == "1"
        refused = client.post("/sentiment/predict", json=texts("fine", version="2"))
        assert refused.status_code == 422 and "not served" in refused.json()["detail"]
        unavailable = client.post("/flight_delay/predict", json=flights())
        assert unavailable.status_code == 503 and "No servable version" in unavailable.json()["detail"]


def test_a_file_replaced_after_verification_is_refused_when_deserialized(recorded_store):
    store, cache = recorded_store
    loaded = model_store.load_model_store(store, [cache])
    sentiment, flight_delay = loaded.get("sentiment"), loaded.get("flight_delay")
    assert sentiment is not None and flight_delay is not None
    version = sentiment.versions["1"]
    assert not version.content.loaded
    (store / "sentiment" / "1" / "model.skops").write_bytes(b"replaced after the start")
    with pytest.raises(model_store.ArtifactError, match="changed since it was verified"):
        _ = version.artifact
    assert (
        flight_delay.versions["2"].artifact[:4]
        == (store / "flight_delay" / "2" / "model.onnx").read_bytes()[:4]
    )
