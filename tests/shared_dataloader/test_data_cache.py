"""The indicator dataset's binary cache: built once from the CSVs, read back identical, keyed by the
CSV files' fingerprint, never written beside the (read-only) dataset, rebuilt when damaged, no pickle."""

import json
import shutil
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from common.settings import DEFAULT_DATASET_PATH, DEFAULT_MODEL_STORE_PATH, REPO_ROOT
from models._artifacts import derived
from shared_dataloader import data_cache
from shared_dataloader.indicators import read_indicator_dataset

META = "Indicator Code,Indicator,Dimension,Category,Dataset\na-x,X %,Economy,Growth,a\nb-y,Y,Health,Care,a\n"
DATASETS = "Dataset Code,Dataset Name\na,Set A\n"


def write_dataset(folder, data: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "indicatorData.csv").write_text(data)
    (folder / "indicatorMeta.csv").write_text(META)
    (folder / "datasetMeta.csv").write_text(DATASETS)


def assert_same_dataset(left, right) -> None:
    pd.testing.assert_frame_equal(left.values, right.values, check_exact=True)
    pd.testing.assert_frame_equal(left.meta, right.meta, check_exact=True)
    pd.testing.assert_frame_equal(left.present_counts(), right.present_counts(), check_index_type=False)
    assert left.datasets == right.datasets
    assert left.fingerprint == right.fingerprint


def entries(cache_dir) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir() if not p.name.startswith("."))


def test_bundled_dataset_round_trips_exactly_through_the_cache(tmp_path):
    parsed = read_indicator_dataset(DEFAULT_DATASET_PATH)
    first = read_indicator_dataset(DEFAULT_DATASET_PATH, tmp_path)
    assert entries(tmp_path) == [data_cache.entry_name(parsed.fingerprint)]
    entry = tmp_path / entries(tmp_path)[0]
    assert entry.stat().st_mode & 0o755 == 0o755  # readable by another user (the image's app user)
    assert all(p.stat().st_mode & 0o444 == 0o444 for p in entry.iterdir())
    cached = read_indicator_dataset(DEFAULT_DATASET_PATH, tmp_path)
    assert_same_dataset(parsed, first)
    assert_same_dataset(parsed, cached)
    pd.testing.assert_frame_equal(parsed.year_table("2001"), cached.year_table("2001"))
    array = cached.values.to_numpy()
    while array is not None and not isinstance(array, np.memmap):
        array = array.base
    assert array is not None and str(array.filename).endswith("values.npy")
    assert not cached.values.to_numpy().flags.writeable


def test_the_stored_presence_counts_are_those_of_the_values(tmp_path):
    """The counts the catalogues use come from the entry, equal to counting the values themselves,
    without reading the values (their pages stay unread by a process that only validates)."""
    parsed = read_indicator_dataset(DEFAULT_DATASET_PATH)
    read_indicator_dataset(DEFAULT_DATASET_PATH, tmp_path)
    cached = read_indicator_dataset(DEFAULT_DATASET_PATH, tmp_path)
    assert parsed.present is None and cached.present is not None
    counted = parsed.values.notna().groupby(level="Indicator Code").sum()
    stored = cached.present_counts()
    assert list(stored.index) == list(counted.index) and list(stored.columns) == parsed.years
    assert (stored.to_numpy() == counted.to_numpy()).all()
    electricity = stored.loc["wdi-EG.ELC.ACCS.ZS"]
    assert 0 < electricity.max() <= len(parsed.countries)
    assert stored.to_numpy().sum() == int(parsed.values.notna().to_numpy().sum())


def test_an_entry_whose_presence_counts_do_not_fit_is_rebuilt(tmp_path):
    read_indicator_dataset(DEFAULT_DATASET_PATH, tmp_path)
    entry = tmp_path / entries(tmp_path)[0]
    (entry / "present.npy").unlink()
    np.save(entry / "present.npy", np.zeros((3, 2), dtype=np.int32), allow_pickle=False)
    fingerprint = read_indicator_dataset(DEFAULT_DATASET_PATH).fingerprint
    with pytest.raises(data_cache.CorruptEntry, match="shapes"):
        data_cache.read_entry(entry, fingerprint)
    rebuilt = read_indicator_dataset(DEFAULT_DATASET_PATH, tmp_path)
    assert rebuilt.present is not None and rebuilt.present_counts().shape == (713, len(rebuilt.years))


def test_the_cache_is_read_instead_of_the_csv(tmp_path):
    source = tmp_path / "data"
    write_dataset(source, "Country Code,Indicator Code,2000,2001\nFJI,a-x,1,2\nJAM,b-y,3,\n")
    cache = tmp_path / "cache"
    read_indicator_dataset(source, cache)
    entry = cache / entries(cache)[0]
    values = np.load(entry / "values.npy")
    values[0, 0] = 42.0  # a marker only a read from the cache can return
    np.save(entry / "values.npy", values, allow_pickle=False)
    assert read_indicator_dataset(source, cache).values.loc[("FJI", "a-x"), "2000"] == 42.0


def test_a_changed_csv_gets_a_new_entry_and_its_own_values(tmp_path):
    source, cache = tmp_path / "data", tmp_path / "cache"
    write_dataset(source, "Country Code,Indicator Code,2000,2001\nFJI,a-x,1,2\n")
    before = read_indicator_dataset(source, cache)
    write_dataset(source, "Country Code,Indicator Code,2000,2001\nFJI,a-x,5,2\nJAM,a-x,7,8\n")
    after = read_indicator_dataset(source, cache)
    assert after.fingerprint != before.fingerprint
    assert after.values.loc[("FJI", "a-x"), "2000"] == 5.0
    assert len(after.values) == 2
    assert entries(cache) == sorted(data_cache.entry_name(d.fingerprint) for d in (before, after))


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry: (entry / "values.npy").write_bytes((entry / "values.npy").read_bytes()[:100]),
        lambda entry: (entry / "tables.json").write_text("{not json"),
        lambda entry: (entry / "countries.npy").unlink(),
        lambda entry: np.save(entry / "countries.npy", np.array([7, 9], dtype=np.int32)),
        lambda entry: np.save(entry / "values.npy", np.zeros((2, 1), dtype=np.float32)),
    ],
    ids=["truncated-array", "bad-json", "missing-array", "codes-out-of-range", "wrong-dtype"],
)
def test_a_damaged_entry_is_rebuilt_from_the_csv(tmp_path, damage, caplog):
    source, cache = tmp_path / "data", tmp_path / "cache"
    write_dataset(source, "Country Code,Indicator Code,2000,2001\nFJI,a-x,1,2\nJAM,b-y,3,4\n")
    parsed = read_indicator_dataset(source)
    read_indicator_dataset(source, cache)
    entry = cache / entries(cache)[0]
    damage(entry)
    rebuilt = read_indicator_dataset(source, cache)
    assert "damaged" in caplog.text
    assert_same_dataset(parsed, rebuilt)
    assert_same_dataset(parsed, read_indicator_dataset(source, cache))  # the rewritten entry is good
    assert data_cache.read_entry(entry, parsed.fingerprint)["rows"] == 2


def test_an_unwritable_cache_dir_still_loads_from_csv(tmp_path, caplog):
    source, cache = tmp_path / "data", tmp_path / "not-a-folder"
    write_dataset(source, "Country Code,Indicator Code,2000,2001\nFJI,a-x,1,2\n")
    cache.write_text("a file where the cache folder should be: unwritable even for root")
    dataset = read_indicator_dataset(source, cache)
    assert dataset.values.loc[("FJI", "a-x"), "2001"] == 2.0
    assert "cannot write" in caplog.text
    assert sorted(p.name for p in source.iterdir()) == [
        "datasetMeta.csv",
        "indicatorData.csv",
        "indicatorMeta.csv",
    ]


def test_read_only_dataset_folder_is_never_written(tmp_path):
    """As in the container: the dataset is a read-only mount; the cache goes to DATA_CACHE_DIR."""
    source, cache = tmp_path / "data", tmp_path / "cache"
    write_dataset(source, "Country Code,Indicator Code,2000,2001\nFJI,a-x,1,2\n")
    before = {p.name: p.stat().st_mtime_ns for p in source.iterdir()}
    source.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        read_indicator_dataset(source, cache)
        read_indicator_dataset(source, cache)
    finally:
        source.chmod(stat.S_IRWXU)
    assert {p.name: p.stat().st_mtime_ns for p in source.iterdir()} == before
    assert len(entries(cache)) == 1


def test_an_entry_holds_no_pickle(tmp_path):
    read_indicator_dataset(DEFAULT_DATASET_PATH, tmp_path)
    entry = tmp_path / entries(tmp_path)[0]
    assert sorted(p.name for p in entry.iterdir()) == [
        "countries.npy",
        "indicators.npy",
        "present.npy",
        "tables.json",
        "values.npy",
    ]
    for path in entry.glob("*.npy"):
        array = np.load(path, allow_pickle=False)  # raises for object (pickled) arrays
        assert array.dtype != object
        assert b"pickle" not in path.read_bytes()[:128]
    (entry / "countries.npy").unlink()
    np.save(entry / "countries.npy", np.array(["FJI"], dtype=object), allow_pickle=True)
    with pytest.raises(data_cache.CorruptEntry):
        data_cache.read_entry(entry, read_indicator_dataset(DEFAULT_DATASET_PATH).fingerprint)


def build_command(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m shared_dataloader.data_cache ARGS` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "shared_dataloader.data_cache", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_build_command_writes_an_entry_the_loader_reads(tmp_path):
    shutil.copytree(DEFAULT_DATASET_PATH, tmp_path / "data")
    done = build_command(str(tmp_path / "data"), "--into", str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    fingerprint = read_indicator_dataset(tmp_path / "data").fingerprint
    dataset_entries = [name for name in entries(tmp_path / "c") if not name.startswith("artifact-")]
    assert dataset_entries == [data_cache.entry_name(fingerprint)]
    assert data_cache.read_entry(tmp_path / "c" / dataset_entries[0], fingerprint)["rows"] == 125_093
    # and an entry per artifact of the shipped store: the derived forms of the skops ones (vocabularies
    # of both sentiment versions; flight_delay 1 has none), the checked record of the ONNX one
    metadata = [
        json.loads((DEFAULT_MODEL_STORE_PATH / model / v / "metadata.json").read_text())
        for model in ("sentiment", "flight_delay")
        for v in ("1", "2")
    ]
    assert sorted(name for name in entries(tmp_path / "c") if name.startswith("artifact-")) == sorted(
        derived.entry_name(m["artifact_sha256"], m["format"]) for m in metadata
    )
    with_vocabularies = [
        name for name in entries(tmp_path / "c") if (tmp_path / "c" / name / derived.MODEL_FILE).is_file()
    ]
    assert sorted(with_vocabularies) == sorted(
        derived.entry_name(m["artifact_sha256"]) for m in metadata if m["name"] == "sentiment"
    )


def test_the_build_command_fails_on_a_model_store_version_that_does_not_load(tmp_path):
    shutil.copytree(DEFAULT_MODEL_STORE_PATH / "sentiment" / "1", tmp_path / "store" / "sentiment" / "1")
    artifact = tmp_path / "store" / "sentiment" / "1" / "model.skops"
    artifact.write_bytes(artifact.read_bytes()[:1000])
    done = build_command("--into", str(tmp_path / "c"), "--model-store", str(tmp_path / "store"))
    assert done.returncode == 1
    assert "sentiment/1" in done.stderr


def test_the_build_command_can_write_the_artifacts_derived_forms_alone(tmp_path):
    """What the image build runs: the model store's derived forms, no dataset entry."""
    done = build_command("--artifacts-only", "--into", str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    written = entries(tmp_path / "c")
    assert written and all(name.startswith("artifact-") for name in written)
