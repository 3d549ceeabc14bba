"""Damaged dataset files are detected and reported: rows cut short, files that differ from the
manifest beside the data, and `python -m shared_dataloader.manifest DIR` that writes it."""

import gzip
import json
import shutil
import subprocess
import sys

import pytest

from common.settings import DEFAULT_DATASET_PATH, REPO_ROOT
from helpers.app import running_app
from shared_dataloader import DatasetError
from shared_dataloader.indicators import read_indicator_dataset
from shared_dataloader.manifest import MANIFEST_FILE, build, read_manifest

META_FILES = ("indicatorMeta.csv", "datasetMeta.csv")


def plain_copy(folder, keep_fraction: float = 1.0, at_row_boundary: bool = False):
    """The bundled dataset with indicatorData as plain CSV, optionally cut (mid-row by default)."""
    text = gzip.decompress((DEFAULT_DATASET_PATH / "indicatorData.csv.gz").read_bytes())
    cut = int(len(text) * keep_fraction)
    if at_row_boundary:
        cut = text.rindex(b"\n", 0, cut) + 1
    elif keep_fraction < 1:
        cut = text.rindex(b"\n", 0, cut) + 12  # mid-row: a country code and part of an indicator code
    (folder / "indicatorData.csv").write_bytes(text[:cut])
    for name in META_FILES:
        shutil.copy(DEFAULT_DATASET_PATH / name, folder / name)
    return folder


def write_manifest(folder):
    result = subprocess.run(
        [sys.executable, "-m", "shared_dataloader.manifest", str(folder)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result


def test_the_bundled_data_ships_a_manifest_that_matches_it():
    manifest = read_manifest(DEFAULT_DATASET_PATH)
    assert set(manifest) == {"indicatorData.csv.gz", *META_FILES}
    assert manifest == build(DEFAULT_DATASET_PATH)["files"]
    assert manifest["indicatorData.csv.gz"]["rows"] > 100_000


def test_a_plain_csv_cut_mid_row_is_refused_naming_the_line(tmp_path):
    plain_copy(tmp_path, keep_fraction=0.5)
    with pytest.raises(
        DatasetError, match=r"^indicatorData.csv: line \d+ has \d+ fields but the header has 34"
    ):
        read_indicator_dataset(tmp_path)


def test_readiness_reports_the_damaged_file_and_the_rest_keeps_serving(tmp_path):
    plain_copy(tmp_path, keep_fraction=0.5)
    with running_app(model_service=("sampleapi", "sentiment"), dataset_path=tmp_path) as client:
        response = client.get("/health/ready")
        assert response.status_code == 503
        report = response.json()
        assert report["data"]["indicators"]["state"] == "failed"
        assert "indicatorData.csv: line" in report["data"]["indicators"]["error"]
        assert "cut short" in report["models"]["sampleapi"]["error"]
        assert client.post("/sentiment/predict", json={"instances": ["great"]}).status_code == 200


def test_a_file_cut_at_a_row_boundary_is_caught_by_the_manifest(tmp_path):
    plain_copy(tmp_path)
    written = write_manifest(tmp_path)
    assert written.returncode == 0, written.stderr
    assert "indicatorData.csv: 125093 rows" in written.stdout
    assert read_indicator_dataset(tmp_path).values.shape[0] > 0
    plain_copy(tmp_path, keep_fraction=0.5, at_row_boundary=True)
    read_manifest(tmp_path)  # still the full file's manifest
    with pytest.raises(
        DatasetError,
        match=r"indicatorData.csv: does not match manifest.json \(sha256 differs; "
        r"the manifest records 125093 rows, it has \d+ rows\)",
    ):
        read_indicator_dataset(tmp_path)


def test_a_file_the_manifest_does_not_list_is_named(tmp_path):
    plain_copy(tmp_path)
    shutil.copy(DEFAULT_DATASET_PATH / MANIFEST_FILE, tmp_path / MANIFEST_FILE)  # lists the .csv.gz
    with pytest.raises(DatasetError, match=r"indicatorData\.csv: not listed in manifest\.json"):
        read_indicator_dataset(tmp_path)


def test_the_manifest_tool_refuses_a_damaged_folder(tmp_path):
    plain_copy(tmp_path, keep_fraction=0.3)
    result = write_manifest(tmp_path)
    assert result.returncode == 1
    assert "indicatorData.csv: line" in result.stderr
    assert not (tmp_path / MANIFEST_FILE).exists()


def test_a_garbage_manifest_is_reported(tmp_path):
    plain_copy(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text(json.dumps({"files": {"indicatorData.csv": {"rows": "many"}}}))
    with pytest.raises(DatasetError, match=r"manifest\.json: not a valid manifest"):
        read_indicator_dataset(tmp_path)
