"""Open Inference Protocol (KServe V2): health, metadata, infer shapes and errors."""

import pytest

from helpers.artifacts import FLIGHT, artifact_app, flight, v2_flight, v2_text


@pytest.fixture(scope="module")
def client():
    with artifact_app() as test_client:
        yield test_client


def test_server_health_and_metadata(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    assert client.get("/v2").json()["name"] == "sids-ml-backend"


def test_model_metadata_describes_tensors(client):
    text = client.get("/v2/models/sentiment").json()
    assert text["name"] == "sentiment" and text["versions"] == ["1", "2"]
    assert text["platform"] == "sklearn"
    assert text["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert [o["name"] for o in text["outputs"]] == ["label", "probabilities"]
    tabular = client.get("/v2/models/flight_delay/versions/2").json()
    assert tabular["versions"] == ["2"] and tabular["platform"] == "onnxruntime"
    assert [i["name"] for i in tabular["inputs"]] == list(FLIGHT)
    assert {i["datatype"] for i in tabular["inputs"]} == {"FP64", "BYTES"}


def test_model_ready(client):
    assert client.get("/v2/models/sentiment/ready").json() == {"name": "sentiment", "ready": True}
    assert client.get("/v2/models/sentiment/versions/2/ready").status_code == 200
    missing = client.get("/v2/models/sentiment/versions/7/ready")
    assert missing.status_code == 400 and missing.json()["ready"] is False


def test_infer_text_shapes_and_ids(client):
    body = client.post(
        "/v2/models/sentiment/versions/2/infer", json=v2_text("great", "awful", "fine", id="req-1")
    ).json()
    assert body["model_name"] == "sentiment" and body["model_version"] == "2" and body["id"] == "req-1"
    label, probabilities = body["outputs"]
    assert label == {
        "name": "label",
        "datatype": "BYTES",
        "shape": [3],
        "data": ["positive", "negative", label["data"][2]],
    }
    assert probabilities["shape"] == [3, 2] and len(probabilities["data"]) == 6


def test_infer_matches_the_rest_endpoint(client):
    rest = client.post("/sentiment/predict", json={"instances": ["so good"], "version": "1"}).json()
    v2 = client.post(
        "/v2/models/sentiment/versions/1/infer", json=v2_text("so good", outputs=[{"name": "probabilities"}])
    ).json()
    assert [o["name"] for o in v2["outputs"]] == ["probabilities"]
    assert v2["outputs"][0]["data"] == pytest.approx(rest["probabilities"][0], abs=1e-12)
    tabular = client.post("/v2/models/flight_delay/versions/2/infer", json=v2_flight(flight(wind_gust=0.0)))
    rest = client.post(
        "/flight_delay/predict", json={"instances": [flight(wind_gust=0.0)], "version": "2"}
    ).json()
    assert tabular.json()["outputs"][1]["data"] == pytest.approx(rest["probabilities"][0], abs=1e-6)


@pytest.mark.parametrize(
    "path, body, status, fragment",
    [
        ("/v2/models/nope/infer", v2_text("x"), 404, "Unknown model 'nope'"),
        ("/v2/models/sentiment/versions/9/infer", v2_text("x"), 404, "not served"),
        (
            "/v2/models/sentiment/infer",
            {"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}]},
            422,
            "BYTES",
        ),
        (
            "/v2/models/sentiment/infer",
            {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": ["a"]}]},
            422,
            "1 values but shape [3]",
        ),
        ("/v2/models/sentiment/infer", v2_text("a", outputs=[{"name": "logits"}]), 422, "unknown outputs"),
        ("/v2/models/sentiment/infer", {"inputs": []}, 422, "inputs"),
        ("/v2/models/flight_delay/infer", v2_text("a"), 422, "missing month"),
    ],
)
def test_errors_carry_the_protocol_error_field(client, path, body, status, fragment):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert fragment in payload["error"] and payload["detail"] == payload["error"]
