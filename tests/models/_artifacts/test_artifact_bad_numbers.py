"""Numbers and texts a model cannot take are a 422 naming the field or line, never a 500:
flight-delay features outside the ranges in the model's metadata, V2 tensors, batch JSON lines."""

import json

import pytest

from common.settings import DEFAULT_MODEL_STORE_PATH
from helpers.app import poll_job
from helpers.artifacts import FLIGHT, artifact_app, flight, v2_flight, v2_text
from models.flight_delay.spec import SPEC as FLIGHT_SPEC

DEEP = {"5,000": 5_000, "100,000": 100_000}


@pytest.fixture(scope="module")
def client():
    with artifact_app() as test_client:
        yield test_client


def post_text(client, path: str, text: str):
    return client.post(path, content=text.encode(), headers={"content-type": "application/json"})


def test_the_metadata_of_every_flight_delay_version_records_the_valid_ranges():
    for version in ("1", "2"):
        meta = json.loads((DEFAULT_MODEL_STORE_PATH / "flight_delay" / version / "metadata.json").read_text())
        month = next(f for f in meta["input_schema"]["features"] if f["name"] == "month")
        assert month == {"name": "month", "type": "number", "minimum": 1, "maximum": 12, "integer": True}
        assert meta["input_schema"] == FLIGHT_SPEC.input_schema()


@pytest.mark.parametrize("month", ["Infinity", "-Infinity", "NaN", "-1", "0", "13", "0.5", "1e400"])
@pytest.mark.parametrize("form", ["object", "array"])
def test_flight_delay_refuses_a_month_outside_1_to_12(client, month, form):
    if form == "object":
        instance = json.dumps(FLIGHT).replace('"month": 7', f'"month": {month}')
    else:
        instance = json.dumps(list(FLIGHT.values())).replace("[7,", f"[{month},", 1)
    response = post_text(client, "/flight_delay/predict", f'{{"instances": [{instance}]}}')
    assert response.status_code == 422, response.text
    assert "month" in response.json()["detail"]
    assert response.json()["errors"][0]["field"].startswith("body.instances")


def test_flight_delay_accepts_the_edges_of_the_ranges(client):
    edges = flight(month=12, day=31, weekday=0, sched_dep_hour=0, humid=100, wind_dir=360)
    response = client.post("/flight_delay/predict", json={"instances": [edges, list(edges.values())]})
    assert response.status_code == 200, response.text
    assert all(0 <= p[1] <= 1 for p in response.json()["probabilities"])


def test_v2_refuses_a_400_digit_fp64_value_naming_the_input(client):
    body = json.dumps(v2_flight()).replace('"data": [[7]]', '"data": [[' + "9" * 400 + "]]")
    response = post_text(client, "/v2/models/flight_delay/infer", body)
    assert response.status_code == 422, response.text
    assert "'month' value 0" in response.json()["error"]
    assert response.json()["errors"][0]["field"] == "body.inputs"


def test_v2_refuses_a_month_outside_its_range(client):
    response = client.post("/v2/models/flight_delay/infer", json=v2_flight(flight(month=-1)))
    assert response.status_code == 422
    assert "month" in response.json()["error"]


def test_v2_refuses_a_bytes_value_with_a_lone_surrogate(client):
    body = json.dumps(v2_text("fine", "x")).replace('"x"', '"bad \\ud800 text"')
    response = post_text(client, "/v2/models/sentiment/infer", body)
    assert response.status_code == 422, response.text
    assert "'text' value 1" in response.json()["error"] and "surrogate" in response.json()["error"]


def test_v2_tensors_are_bounded(client):
    too_many = client.post("/v2/models/sentiment/infer", json=v2_text(*["ok"] * 10_001))
    assert too_many.status_code == 422 and "at most 10000" in too_many.json()["error"]
    wide = v2_text("ok")
    wide["inputs"][0]["data"] = [["a", "b"]]
    assert client.post("/v2/models/sentiment/infer", json=wide).status_code == 422


def upload(client, content: bytes, headers=None):
    return client.post("/flight_delay/batch", files={"file": ("flights.jsonl", content)}, headers=headers)


def bad_lines() -> dict[str, tuple[bytes, str]]:
    good = json.dumps(FLIGHT)
    lines = {
        f"nested {label} deep": ("[" * depth + "]" * depth, "line 2 is nested too deeply")
        for label, depth in DEEP.items()
    }
    lines["a 400-digit number"] = (
        good.replace('"distance": 719', '"distance": ' + "7" * 400),
        "line 2: feature distance is a number too large",
    )
    lines["a lone surrogate"] = (
        good.replace('"UA"', '"\\udc00"'),
        "line 2: feature carrier is not valid UTF-8",
    )
    return {name: (f"{good}\n{line}\n{good}\n".encode(), message) for name, (line, message) in lines.items()}


@pytest.mark.parametrize("name", sorted(bad_lines()))
def test_a_bad_batch_line_is_a_422_naming_the_line(client, name):
    content, message = bad_lines()[name]
    response = upload(client, content)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "body.file"


@pytest.mark.parametrize("name", ["nested 100,000 deep", "a 400-digit number"])
def test_a_bad_batch_line_fails_its_job_with_a_422(client, name):
    content, message = bad_lines()[name]
    accepted = upload(client, content, headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202
    job = poll_job(client, accepted.headers["location"])
    assert job["status"] == "failed"
    assert message in job["error"]["detail"]
    assert client.get(accepted.headers["location"] + "/result").status_code == 409


@pytest.mark.parametrize(
    "month,problem",
    [("13", "from 1 to 12"), ("0.5", "whole number"), ("inf", "not inf"), ("9" * 400, "not inf")],
)
def test_a_csv_batch_row_outside_the_ranges_is_a_422_naming_the_row(client, month, problem):
    header = ",".join(FLIGHT)
    good = ",".join("" if v is None else str(v) for v in FLIGHT.values())
    bad = good.replace("7,", f"{month},", 1)
    content = f"{header}\n{good}\n{bad}\n".encode()
    response = client.post("/flight_delay/batch", files={"file": ("flights.csv", content)})
    assert response.status_code == 422, response.text
    assert "row 2: month must be" in response.json()["detail"] and problem in response.json()["detail"]
