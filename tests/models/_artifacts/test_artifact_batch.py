"""POST /<model>/batch: scored CSV / JSON-lines files, and refused files."""

import io
import json

import pandas as pd
import pytest

from helpers.artifacts import FLIGHT, artifact_app, flight
from models._artifacts.batch import score_batch
from models._artifacts.spec import InstanceError
from models.sentiment.spec import SPEC as SENTIMENT


@pytest.fixture(scope="module")
def client():
    with artifact_app(models=("sentiment", "flight_delay")) as test_client:
        yield test_client


def upload(client, model, name, content: bytes, **form):
    return client.post(f"/{model}/batch", files={"file": (name, content)}, data=form)


def test_csv_of_texts_comes_back_scored_with_extra_columns_kept(client):
    rows = pd.DataFrame({"id": [1, 2, 3], "text": ["Loved it!", "Worst purchase ever.", "meh, ok"]})
    response = upload(client, "sentiment", "reviews.csv", rows.to_csv(index=False).encode())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["x-model-version"] == "1"
    scored = pd.read_csv(io.BytesIO(response.content))
    assert list(scored["id"]) == [1, 2, 3]
    assert list(scored["prediction"][:2]) == ["positive", "negative"]
    assert (scored["probability_negative"] + scored["probability_positive"]).round(9).eq(1).all()
    single = client.post("/sentiment/predict", json={"instances": ["meh, ok"]}).json()
    assert scored["probability_positive"][2] == pytest.approx(single["probabilities"][0][1], abs=1e-9)


def test_jsonl_of_flights_scored_as_csv_or_jsonl(client):
    lines = "\n".join(json.dumps(x) for x in [FLIGHT, list(FLIGHT.values()), flight(dest="ATL")])
    as_csv = upload(client, "flight_delay", "flights.jsonl", lines.encode(), output="csv", version="2")
    scored = pd.read_csv(io.BytesIO(as_csv.content))
    assert len(scored) == 3 and scored["dest"].tolist() == ["ORD", "ORD", "ATL"]
    assert scored["probability_delayed"][0] == pytest.approx(scored["probability_delayed"][1])
    as_jsonl = upload(client, "flight_delay", "flights.jsonl", lines.encode(), version="2")
    assert as_jsonl.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in as_jsonl.text.splitlines()]
    assert [r["prediction"] for r in records] == scored["prediction"].tolist()


@pytest.mark.parametrize(
    "model, name, content, fragment",
    [
        ("sentiment", "reviews.txt", b"text\nfine\n", ".csv or .jsonl"),
        ("sentiment", "reviews.csv", b"body\nfine\n", "lacks the columns text"),
        ("sentiment", "reviews.csv", b"text\n", "no rows"),
        ("sentiment", "reviews.jsonl", b'"fine"\n{oops\n', "line 2 is not valid JSON"),
        ("flight_delay", "f.csv", b"month,day\n1,2\n", "lacks the columns weekday"),
        ("flight_delay", "f.jsonl", b"[1, 2]\n", "line 1 has 2 values"),
    ],
)
def test_unusable_files_are_422(client, model, name, content, fragment):
    response = upload(client, model, name, content)
    assert response.status_code == 422 and fragment in response.json()["detail"], response.text


def test_non_numeric_csv_value_names_row_and_feature(client):
    frame = pd.DataFrame([FLIGHT, flight(distance="far")])
    response = upload(client, "flight_delay", "f.csv", frame.to_csv(index=False).encode())
    assert response.status_code == 422 and "row 2: distance" in response.json()["detail"]


def test_row_limit_of_the_service_function(client):
    served = client.app.state.artifact_registry.model("sentiment").versions["1"]
    with pytest.raises(InstanceError, match="at most 2"):
        score_batch(SENTIMENT, served, b"text\na\nb\nc\n", "csv", max_rows=2)
