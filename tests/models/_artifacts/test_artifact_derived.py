"""The derived form of skops artifacts (vocabularies as JSON): same estimator, same answers, faster
start; damaged or unwritable entries fall back to the artifact itself (issue 18)."""

import csv
import json

import numpy as np
import pytest

from helpers.app import running_app
from helpers.artifacts import copy_store, texts
from models._artifacts import derived
from models._artifacts.store import load_skops, load_version

SENTENCES = "model_store/_data/sentiment-labelled-sentences/sentiment.csv"


@pytest.fixture(scope="module")
def reviews() -> list[str]:
    from common.settings import REPO_ROOT

    with open(REPO_ROOT / SENTENCES, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    column = next(name for name in rows[0] if name.lower() in ("text", "sentence"))
    return [row[column] for row in rows[:600]]


class CountingLoads:
    """`load_skops`, recording which files it read."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, path):
        self.paths.append(path.name)
        return load_skops(path)


def _load(folder, cache_dirs, loads):
    metadata = json.loads((folder / "metadata.json").read_text())
    return derived.load(folder / "model.skops", metadata["artifact_sha256"], cache_dirs, loads)


@pytest.mark.parametrize("version", ["1", "2"])
def test_derived_form_gives_the_same_estimator_and_identical_predictions(tmp_path, reviews, version):
    folder = copy_store(tmp_path / "store", {"sentiment": [version]}) / "sentiment" / version
    original = load_skops(folder / "model.skops")
    first, again = CountingLoads(), CountingLoads()
    built = _load(folder, [tmp_path / "cache"], first)
    from_entry = _load(folder, [tmp_path / "cache"], again)
    assert first.paths == ["model.skops"] and again.paths == ["model.skops"]
    (entry,) = (tmp_path / "cache").iterdir()
    assert entry.name.startswith(f"artifact-v{derived.FORMAT}-") and sorted(
        p.name for p in entry.iterdir()
    ) == [
        "coef.npy",
        "idf.npy",
        "linear.json",
        "model.skops",
        "vocabularies.json",
    ]
    assert np.array_equal(built.predict_proba(reviews), original.predict_proba(reviews))
    vectorizer, restored = original.steps[0][1], from_entry.steps[0][1]
    assert len(vectorizer.vocabulary_) > 10_000 and restored.vocabulary_ == vectorizer.vocabulary_
    assert np.array_equal(from_entry.predict_proba(reviews), original.predict_proba(reviews))
    assert list(from_entry.predict(reviews)) == list(original.predict(reviews))


def test_the_entry_is_read_without_the_vocabulary_rebuild(tmp_path):
    folder = copy_store(tmp_path / "store", {"sentiment": ["1"]}) / "sentiment" / "1"
    _load(folder, [tmp_path / "cache"], load_skops)
    (entry,) = (tmp_path / "cache").iterdir()
    vocabularies = json.loads((entry / "vocabularies.json").read_text())
    assert [record["path"] for record in vocabularies] == [["steps", 0, 1]]
    slim = load_skops(entry / "model.skops")
    assert slim.steps[0][1].vocabulary_ == {}  # the skops file no longer carries the vocabulary


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry: (entry / "vocabularies.json").write_text("[{]"),
        lambda entry: (entry / "model.skops").write_bytes(b"not a zip"),
        lambda entry: (entry / "vocabularies.json").write_text(
            json.dumps([{"path": ["steps", 0, 1], "terms": ["a", "a"]}])
        ),
        lambda entry: (entry / "vocabularies.json").write_text(
            json.dumps([{"path": ["steps", 5, 1], "terms": ["a"]}])
        ),
    ],
    ids=["bad-json", "bad-skops", "duplicate-terms", "wrong-path"],
)
def test_a_damaged_entry_is_logged_and_the_artifact_loads(tmp_path, reviews, caplog, damage):
    folder = copy_store(tmp_path / "store", {"sentiment": ["1"]}) / "sentiment" / "1"
    expected = load_skops(folder / "model.skops").predict_proba(reviews)
    _load(folder, [tmp_path / "cache"], load_skops)
    (entry,) = (tmp_path / "cache").iterdir()
    damage(entry)
    loads = CountingLoads()
    estimator = _load(folder, [tmp_path / "cache"], loads)
    assert "derived artifact form skipped" in caplog.text
    assert loads.paths[-1] == "model.skops" and np.array_equal(estimator.predict_proba(reviews), expected)
    # the damaged entry was replaced by a good one
    assert np.array_equal(_load(folder, [tmp_path / "cache"], load_skops).predict_proba(reviews), expected)


def test_an_unwritable_cache_only_costs_the_slow_load(tmp_path, reviews):
    folder = copy_store(tmp_path / "store", {"sentiment": ["2"]}) / "sentiment" / "2"
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a folder")
    estimator = load_version(folder, [blocked / "cache"]).artifact
    expected = load_skops(folder / "model.skops").predict_proba(reviews)
    assert np.array_equal(estimator.predict_proba(reviews), expected)


def test_a_replaced_artifact_gets_a_new_entry(tmp_path):
    store = copy_store(tmp_path / "store", {"sentiment": ["1", "2"]})
    _load(store / "sentiment" / "1", [tmp_path / "cache"], load_skops)
    _load(store / "sentiment" / "2", [tmp_path / "cache"], load_skops)
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_the_app_answers_the_same_from_the_derived_form(tmp_path, reviews):
    store = copy_store(tmp_path / "store", {"sentiment": ["1", "2"]}, {"sentiment": {"default": "1"}})
    answers = []
    for _start in range(2):  # the first start writes the entries, the second reads them
        with running_app(
            model_service=("sentiment",), model_store_path=store, data_cache_dir=tmp_path / "cache"
        ) as client:
            assert client.get("/health/ready").status_code == 200
            answers.append(
                [
                    client.post("/sentiment/predict", json=texts(*reviews[:50], version=version)).json()
                    for version in ("1", "2")
                ]
            )
        assert len(list((tmp_path / "cache").glob(f"artifact-v{derived.FORMAT}-*"))) == 2
    assert answers[0] == answers[1]


def test_an_entry_another_process_wrote_meanwhile_is_kept(tmp_path):
    """Two workers starting together both build the entry: the second keeps the first's."""
    folder = copy_store(tmp_path / "store", {"sentiment": ["1"]}) / "sentiment" / "1"
    metadata = json.loads((folder / "metadata.json").read_text())
    estimator = load_skops(folder / "model.skops")
    first = derived.write(tmp_path / "cache", metadata["artifact_sha256"], estimator)
    assert first is not None
    inode = (first / "vocabularies.json").stat().st_ino
    second = derived.write(tmp_path / "cache", metadata["artifact_sha256"], estimator)
    assert second is not None and second == first and (second / "vocabularies.json").stat().st_ino == inode
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.name]  # no staging folder left
