"""POST /<model>/batch as a job in embedded mode: 202 + Location, progress, the scored file from
GET /jobs/{id}/result, `wait=N`, and refused or failed jobs."""

import io
import json

import pandas as pd
import pytest

from common.errors import InvalidInput
from common.jobs.types import FileResult
from helpers.app import poll_job
from helpers.artifacts import FLIGHT, artifact_app, flight
from models._artifacts.batch import score_batch, score_file
from models._artifacts.schemas import BatchJobRequest
from models.sentiment.spec import SPEC as SENTIMENT

ASYNC = {"Prefer": "respond-async"}
REVIEWS = ["Loved it!", "Worst purchase ever.", "meh, ok", "Great value, would buy again."]


@pytest.fixture(scope="module")
def client():
    with artifact_app(models=("sentiment", "flight_delay")) as test_client:
        yield test_client


def reviews_csv(texts=REVIEWS) -> bytes:
    return pd.DataFrame({"id": range(1, len(texts) + 1), "text": texts}).to_csv(index=False).encode()


def upload(client, model, name, content: bytes, headers=None, **form):
    return client.post(f"/{model}/batch", files={"file": (name, content)}, data=form, headers=headers)


def finished(client, location: str, timeout: float = 30) -> dict:
    return poll_job(client, location, timeout=timeout)


def test_async_batch_job_then_fetch_the_same_file_as_the_synchronous_answer(client):
    direct = upload(client, "sentiment", "reviews.csv", reviews_csv())
    accepted = upload(client, "sentiment", "reviews.csv", reviews_csv(), headers=ASYNC)
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    assert accepted.headers["location"] == f"/jobs/{job_id}"
    job = finished(client, accepted.headers["location"])
    assert job["status"] == "succeeded" and job["model"] == "sentiment"
    assert job["result"] == {
        "kind": "file",
        "filename": "sentiment-v1-scored.csv",
        "content_type": "text/csv",
        "size": len(direct.content),
        "href": f"/jobs/{job_id}/result",
        "summary": {"model": "sentiment", "version": "1", "rows": len(REVIEWS)},
    }
    fetched = client.get(job["result"]["href"])
    assert fetched.status_code == 200 and fetched.headers["content-type"].startswith("text/csv")
    assert fetched.headers["content-disposition"] == 'attachment; filename="sentiment-v1-scored.csv"'
    assert fetched.content == direct.content
    scored = pd.read_csv(io.BytesIO(fetched.content))
    assert scored["id"].tolist() == [1, 2, 3, 4] and scored["prediction"][:2].tolist() == [
        "positive",
        "negative",
    ]


def test_jsonl_job_with_version_and_wait_answers_the_file_itself(client):
    lines = "\n".join(json.dumps(x) for x in [FLIGHT, flight(dest="ATL")]).encode()
    answer = upload(client, "flight_delay", "f.jsonl", lines, headers={"Prefer": "wait=30"}, version="2")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    assert answer.headers["content-disposition"] == 'attachment; filename="flight_delay-v2-scored.jsonl"'
    records = [json.loads(line) for line in answer.text.splitlines()]
    assert [r["dest"] for r in records] == ["ORD", "ATL"]
    direct = upload(client, "flight_delay", "f.jsonl", lines, version="2")
    assert [json.loads(line) for line in direct.text.splitlines()] == records


def test_a_file_that_cannot_be_scored_fails_the_job_and_has_no_result(client):
    accepted = upload(client, "sentiment", "reviews.csv", b"body\nfine\n", headers=ASYNC)
    job = finished(client, accepted.headers["location"])
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_input"
    assert "lacks the columns text" in job["error"]["detail"]
    result = client.get(accepted.headers["location"] + "/result")
    assert result.status_code == 409 and "has failed" in result.json()["detail"]
    assert "lacks the columns text" in result.json()["detail"]


@pytest.mark.parametrize(
    "name, content, form, field, fragment",
    [
        ("reviews.csv", b"text\n\xff\xfe\n", {}, "body.file", "UTF-8"),
        ("reviews.csv", reviews_csv(), {"version": "9"}, "body.version", "served versions: 1"),
        ("reviews.txt", reviews_csv(), {}, "body.file", ".csv or .jsonl"),
    ],
)
def test_invalid_uploads_are_refused_before_a_job_starts(client, name, content, form, field, fragment):
    response = upload(client, "sentiment", name, content, headers=ASYNC, **form)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"] and response.json()["errors"][0]["field"] == field


def test_unknown_job_result_is_404(client):
    response = client.get("/jobs/0123456789abcdef0123456789abcdef/result")
    assert response.status_code == 404 and "No job" in response.json()["detail"]


def test_progress_counts_rows_per_chunk(client):
    served = client.app.state.artifact_registry.model("sentiment").versions["1"]
    reports = []
    content = reviews_csv(REVIEWS * 1250)
    _, _, rows = score_batch(
        SENTIMENT,
        served,
        content,
        "csv",
        progress=lambda stage, fraction, done, total: reports.append((fraction, done, total)),
    )
    assert rows == 5000
    assert reports == [(0.0, 0, 5000), (0.4, 2000, 5000), (0.8, 4000, 5000)]


def test_the_job_refuses_a_version_whose_artifact_changed(client):
    store = client.app.state.artifact_registry.store
    body = BatchJobRequest(
        spec=SENTIMENT.to_json(),
        version="1",
        artifact_sha256="0" * 64,
        content=reviews_csv().decode(),
        input_format="csv",
        output="jsonl",
    )
    with pytest.raises(InvalidInput, match="submit it again") as refused:
        score_file(body, store)
    assert [problem.field for problem in refused.value.errors] == ["body.version"]
    sha = store.get("sentiment").versions["1"].metadata["artifact_sha256"]
    result = score_file(body.model_copy(update={"artifact_sha256": sha}), store)
    assert isinstance(result, FileResult) and result.content_type == "application/x-ndjson"
    assert len(result.content.splitlines()) == len(REVIEWS) and result.summary["rows"] == len(REVIEWS)
