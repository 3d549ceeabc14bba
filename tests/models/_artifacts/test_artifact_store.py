"""Loading the model store: good versions, corrupt files, framework mismatch, unsafe artifacts."""

import json
import pickle
import sys

import pytest
import skops.io

from common.settings import DEFAULT_MODEL_STORE_PATH
from helpers.artifacts import artifact_app, copy_store, write_routing
from models._artifacts import derived, linear
from models._artifacts.store import load_model, load_model_store, sha256_file


class Untrusted:
    """A type no allow-list contains."""

    def __init__(self) -> None:
        self.payload = [1, 2, 3]


def _store(tmp_path, **versions):
    return copy_store(tmp_path / "store", versions or {"sentiment": ["1"]})


def _edit_metadata(folder, **changes):
    path = folder / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata.update(changes)
    path.write_text(json.dumps(metadata))


def _replace_artifact(folder, data: bytes):
    (folder / "model.skops").write_bytes(data)
    _edit_metadata(folder, artifact_sha256=sha256_file(folder / "model.skops"))


def test_shipped_store_loads_every_version_with_metadata():
    store = load_model_store(DEFAULT_MODEL_STORE_PATH)
    assert store.model_names() == ["flight_delay", "sentiment"]
    for name in store.model_names():
        model = store.get(name)
        assert model is not None
        assert sorted(model.versions) == ["1", "2"] and model.failures == {}
        for version in model.versions.values():
            meta = version.metadata
            assert meta["metrics"]["held_out"]["roc_auc"] > 0.65
            assert len(meta["training_data"]["fingerprint"]) == 64
            assert meta["frameworks"]["scikit-learn"].startswith("1.9")
            assert version.drift_reference is not None
            assert version.drift_reference["kind"] == meta["input_schema"]["kind"]
    flight_delay = store.get("flight_delay")
    assert flight_delay is not None and {v.format for v in flight_delay.versions.values()} == {
        "skops",
        "onnx",
    }


def test_corrupt_artifact_is_skipped_with_reason(tmp_path):
    store = _store(tmp_path, sentiment=["1", "2"])
    artifact = store / "sentiment" / "1" / "model.skops"
    artifact.write_bytes(artifact.read_bytes()[:1000])
    model = load_model(store / "sentiment")
    assert list(model.versions) == ["2"]
    assert "sha256" in model.failures["1"]


def test_corrupt_file_with_matching_checksum_is_refused(tmp_path):
    folder = _store(tmp_path) / "sentiment" / "1"
    _replace_artifact(folder, b"PK\x03\x04 not really a zip")
    assert "not a readable skops file" in load_model(folder.parent).failures["1"]


def test_raw_pickle_is_refused(tmp_path):
    folder = _store(tmp_path) / "sentiment" / "1"
    _replace_artifact(folder, pickle.dumps({"model": "pickled"}))
    assert "not a readable skops file" in load_model(folder.parent).failures["1"]


def test_skops_file_with_untrusted_type_is_refused(tmp_path):
    folder = _store(tmp_path) / "sentiment" / "1"
    skops.io.dump(Untrusted(), folder / "model.skops")
    _edit_metadata(folder, artifact_sha256=sha256_file(folder / "model.skops"))
    reason = load_model(folder.parent).failures["1"]
    assert "not allowed" in reason and "Untrusted" in reason


def test_other_scikit_learn_version_is_refused(tmp_path):
    folder = _store(tmp_path) / "sentiment" / "1"
    meta = json.loads((folder / "metadata.json").read_text())
    _edit_metadata(folder, frameworks={**meta["frameworks"], "scikit-learn": "1.5.2"})
    reason = load_model(folder.parent).failures["1"]
    assert "scikit-learn 1.5.2" in reason and "installed" in reason


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"version": "7"}, "folder is sentiment/1"),
        ({"format": "pickle"}, "unknown format"),
    ],
)
def test_inconsistent_metadata_is_refused(tmp_path, change, expected):
    folder = _store(tmp_path) / "sentiment" / "1"
    _edit_metadata(folder, **change)
    assert expected in load_model(folder.parent).failures["1"]


def test_bad_routing_falls_back_to_latest_version(tmp_path):
    store = _store(tmp_path, sentiment=["1", "2"])
    write_routing(store / "sentiment", {"default": "1", "split": {"1": 1, "9": 1}})
    model = load_model(store / "sentiment")
    assert model.routing_error is not None and "9" in model.routing_error and model.default_version == "2"


def test_readiness_reports_skipped_versions_and_failed_models(tmp_path):
    store = copy_store(tmp_path / "store", {"sentiment": ["1", "2"], "flight_delay": ["2"]})
    (store / "sentiment" / "2" / "model.skops").write_bytes(b"garbage")
    (store / "flight_delay" / "2" / "metadata.json").write_text("{not json")
    with artifact_app(store) as client:
        report = client.get("/health/ready")
        body = report.json()
        assert report.status_code == 503
        assert body["models"]["sentiment"]["state"] == "ready"
        assert "version 2 skipped" in body["models"]["sentiment"]["detail"]
        assert body["models"]["flight_delay"]["state"] == "failed"
        assert "not valid JSON" in body["models"]["flight_delay"]["error"]
        assert client.post("/sentiment/predict", json={"instances": ["fine"]}).json()["version"] == "1"
        unavailable = client.post("/flight_delay/predict", json={"instances": [[None] * 18]})
        assert unavailable.status_code == 503 and "No servable version" in unavailable.json()["detail"]


def test_an_isolated_store_has_new_artifacts_deserialized_by_one_child_process(tmp_path, caplog):
    store = _store(tmp_path, sentiment=["1", "2"], flight_delay=["1"])
    _replace_artifact(store / "sentiment" / "2", pickle.dumps({"model": "pickled"}))
    caplog.set_level("INFO", logger="models._artifacts.store")
    sentiment = load_model(store / "sentiment", cache_dirs=[tmp_path / "cache"], isolated=True)
    assert list(sentiment.versions) == ["1"] and "not a readable skops file" in sentiment.failures["2"]
    assert "2 artifact(s) verified in a child process" in caplog.text
    version = sentiment.versions["1"]
    assert not version.content.loaded  # deserialized there, not here
    assert derived.has_linear_form(version.metadata["artifact_sha256"], [tmp_path / "cache"])
    assert isinstance(version.serving_form, linear.LinearTextModel)
    flights = load_model(store / "flight_delay", cache_dirs=[tmp_path / "cache"], isolated=True)
    assert flights.versions["1"].serving_form is None  # no linear form: scored by compute processes
    caplog.clear()
    again = load_model(store / "sentiment", cache_dirs=[tmp_path / "cache"], isolated=True)
    assert list(again.versions) == ["1"] and not again.versions["1"].content.loaded
    assert "1 artifact(s) verified" in caplog.text  # version 2 again; version 1 is recorded now


def test_a_verifying_process_that_fails_skips_the_new_versions_with_why(tmp_path, monkeypatch):
    store = _store(tmp_path, sentiment=["1"])
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    model = load_model(store / "sentiment", cache_dirs=[tmp_path / "cache"], isolated=True)
    assert model.versions == {}
    assert "could not be verified (the verifying process failed: FileNotFoundError" in model.failures["1"]


def test_an_isolated_store_verifies_every_models_new_artifacts_in_one_child_process(tmp_path, caplog):
    store = _store(tmp_path, sentiment=["1"], flight_delay=["1", "2"])
    caplog.set_level("INFO", logger="models._artifacts.store")
    loaded = load_model_store(store, [tmp_path / "cache"], isolated=True)
    assert [len(model.versions) for name in loaded.model_names() if (model := loaded.get(name))] == [2, 1]
    assert caplog.text.count("verified in a child process") == 1 and "3 artifact(s)" in caplog.text
