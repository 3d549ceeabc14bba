"""Platform endpoints on the bundled data: /, /datasets, /health/*, /docs, /openapi.json."""

import gzip

from common.settings import DEFAULT_DATASET_PATH
from helpers.app import running_app


def test_root_names_the_service_and_its_models(client):
    body = client.get("/").json()
    assert body["service"] == "SIDS ML Backend"
    assert body["version"] == client.app.version
    assert "sampleapi" in body["models"]
    assert body["unavailable_models"] == {}


def test_datasets_lists_the_bundled_files_with_sizes(client):
    files = {f["name"]: f["bytes"] for f in client.get("/datasets").json()["files"]}
    assert {
        "indicatorData.csv.gz",
        "indicatorMeta.csv",
        "datasetMeta.csv",
        "SOURCES.md",
        "survey/data.json",
        "survey/metadata.json",
    } <= set(files)
    assert files["indicatorMeta.csv"] == (DEFAULT_DATASET_PATH / "indicatorMeta.csv").stat().st_size


def test_liveness_and_readiness_when_everything_loaded(client):
    assert client.get("/health/live").json() == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    report = ready.json()
    assert report["status"] == "ready"
    assert report["data"]["indicators"] == {"state": "ready"}
    assert all(m == {"state": "ready"} for m in report["models"].values())


def test_readiness_names_the_missing_dataset_folder(tmp_path):
    with running_app(dataset_path=tmp_path / "nowhere", model_service=("sampleapi",)) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        report = ready.json()
        assert report["data"]["indicators"]["state"] == "failed"
        assert "'nowhere' does not exist" in report["data"]["indicators"]["error"]
        assert report["models"]["sampleapi"]["state"] == "failed"
        assert client.get("/health/live").status_code == 200
        refused = client.post("/sampleapi/predict", json={"indicator": "wdi-EG.ELC.ACCS.ZS"})
        assert refused.status_code == 503
        assert "could not be loaded" in refused.json()["detail"]


def _broken_copy(tmp_path, data_csv: str) -> None:
    for name in ("indicatorMeta.csv", "datasetMeta.csv"):
        (tmp_path / name).write_bytes((DEFAULT_DATASET_PATH / name).read_bytes())
    with gzip.open(tmp_path / "indicatorData.csv.gz", "wt") as handle:
        handle.write(data_csv)


def test_readiness_names_the_malformed_file_and_column(tmp_path):
    _broken_copy(tmp_path, "Country Code,Indicator Code,2000,2001\nFJI,wdi-EG.ELC.ACCS.ZS,1.5,n/a%\n")
    with running_app(dataset_path=tmp_path, model_service=("sampleapi",)) as client:
        report = client.get("/health/ready")
        assert report.status_code == 503
        error = report.json()["data"]["indicators"]["error"]
        assert error.startswith("indicatorData.csv.gz: column 2001")
        assert "'n/a%'" in error


def test_readiness_names_a_missing_column(tmp_path):
    _broken_copy(tmp_path, "Country,Indicator Code,2000\nFJI,wdi-EG.ELC.ACCS.ZS,1.5\n")
    with running_app(dataset_path=tmp_path, model_service=("sampleapi",)) as client:
        error = client.get("/health/ready").json()["data"]["indicators"]["error"]
        assert "missing column(s) Country Code" in error


def test_swagger_and_openapi_are_served(client):
    assert "swagger-ui" in client.get("/docs").text
    schema = client.get("/openapi.json").json()
    assert schema["info"]["title"] == "SIDS ML Backend"
    assert "/params" in schema["paths"] and "/health/ready" in schema["paths"]
    error_schema = schema["components"]["schemas"]["ErrorResponse"]
    assert set(error_schema["required"]) == {"code", "detail"}
    predict = schema["paths"]["/sampleapi/predict"]["post"]
    assert predict["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )
