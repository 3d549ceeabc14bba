"""SurveyCluster refuses what it cannot use: non-finite or oversized numbers, too many rows or questions."""

import json

import pytest

from helpers.app import running_app
from models.SurveyCluster.survey import MAX_COLUMNS, MAX_ROWS

METADATA = [
    {"Question Name": "q", "Type": "continuous", "Factor": "F"},
    {"Question Name": "lat", "Type": "GPS latitude", "Factor": None},
    {"Question Name": "lon", "Type": "GPS longitude", "Factor": None},
]


@pytest.fixture(scope="module")
def survey_client():
    with running_app(model_service=("SurveyCluster",)) as client:
        yield client


def body_with_answer(answer: str, shape: str = "columns") -> bytes:
    """A request (JSON text, so it can hold NaN and huge literals) whose third answer to q is `answer`."""
    meta = json.dumps(METADATA)
    if shape == "columns":
        data = f'{{"q": [1.5, 2, {answer}], "lat": [-15.1, -15.2, -15.3], "lon": [35, 35, 35]}}'
    else:
        data = ", ".join(
            f'{{"q": {value}, "lat": -15.{i}, "lon": 35}}' for i, value in enumerate(["1.5", "2", answer])
        )
        data = f"[{data}]"
    return f'{{"data": {data}, "metadata": {meta}, "factor": "F", "max_k": 2}}'.encode()


@pytest.mark.parametrize(
    "answer",
    ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400, '"' + "x" * 10_001 + '"', '{"nested": 1}'],
)
@pytest.mark.parametrize("shape", ["columns", "rows"])
def test_answers_that_are_not_finite_numbers_texts_or_null_are_a_422_naming_them(
    survey_client, answer, shape
):
    response = survey_client.post(
        "/survey/clustering",
        content=body_with_answer(answer, shape),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    problems = response.json()["errors"]
    assert [p["field"] for p in problems] == ["body.data"]
    assert problems[0]["message"].startswith("the answer to q in row 2 is ")
    assert "a finite number" in problems[0]["message"]


def test_the_same_request_with_a_finite_answer_clusters(survey_client):
    response = survey_client.post(
        "/survey/clustering", content=body_with_answer("3.25"), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["cluster_label"]) == 3


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"data": [{"q": 1}] * (MAX_ROWS + 1)}, "body.data.rows"),
        ({"data": {f"q{i}": [1] for i in range(MAX_COLUMNS + 1)}}, "body.data.columns"),
        ({"data": {"q": [1] * (MAX_ROWS + 1)}}, "body.data.columns.q.list"),
        ({"data": [{f"q{i}": 1 for i in range(MAX_COLUMNS + 1)}]}, "body.data.rows.0"),
        ({"metadata": [{"Question Name": "q"}] * (MAX_COLUMNS + 1)}, "body.metadata.rows"),
    ],
)
def test_every_list_has_a_maximum_length(survey_client, payload, field):
    body = {"data": {"q": [1]}, "metadata": METADATA, "factor": "F", "max_k": 2, **payload}
    response = survey_client.post("/survey/clustering", json=body)
    assert response.status_code == 422
    assert [p["field"] for p in response.json()["errors"]] == [field]
    assert "at most" in response.json()["errors"][0]["message"]
