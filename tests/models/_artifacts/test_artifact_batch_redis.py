"""POST /<model>/batch as a job in Redis mode: queued until a real `python -m api_app.worker`
(which loads the model store itself) scores it; the file is fetched from any API process."""

import io

import pandas as pd
import pytest

from common.settings import DEFAULT_MODEL_STORE_PATH
from helpers.app import poll_job, running_app
from helpers.workers import start_worker
from helpers.workers import stop_worker as stop

ASYNC = {"Prefer": "respond-async"}
TEXTS = ["Loved it!", "Worst purchase ever.", "meh, ok"] * 700


def reviews_csv() -> bytes:
    return pd.DataFrame({"id": range(len(TEXTS)), "text": TEXTS}).to_csv(index=False).encode()


def upload(client, content: bytes, headers=None, **form):
    return client.post(
        "/sentiment/batch", files={"file": ("reviews.csv", content)}, data=form, headers=headers
    )


def finished(client, location: str, timeout: float = 60) -> dict:
    return poll_job(client, location, timeout=timeout)


@pytest.fixture
def api(redis_url, redis_conn):
    with running_app(
        model_service=("sentiment",),
        model_store_path=DEFAULT_MODEL_STORE_PATH,
        job_backend="redis",
        redis_url=redis_url,
    ) as client:
        yield client


def test_batch_job_waits_for_a_worker_then_its_file_is_fetched(api, redis_url):
    client = api
    reference = upload(client, reviews_csv())
    assert reference.status_code == 200, "without Prefer the API process scores the file itself"
    accepted = upload(client, reviews_csv(), headers=ASYNC)
    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["location"]
    assert client.get(location).json()["status"] == "queued"
    early = client.get(location + "/result")
    assert early.status_code == 409 and "is queued" in early.json()["detail"]

    worker = start_worker(redis_url, MODEL_SERVICE="sentiment")
    try:
        job = finished(client, location)
        assert job["status"] == "succeeded", job
        assert job["result"]["summary"] == {"model": "sentiment", "version": "1", "rows": len(TEXTS)}
        assert job["progress"] == {"stage": "done", "fraction": 1.0}
        fetched = client.get(job["result"]["href"])
        assert fetched.status_code == 200 and fetched.headers["content-type"].startswith("text/csv")
        assert fetched.headers["content-disposition"] == 'attachment; filename="sentiment-v1-scored.csv"'
        pd.testing.assert_frame_equal(
            pd.read_csv(io.BytesIO(fetched.content)), pd.read_csv(io.BytesIO(reference.content))
        )

        waited = upload(client, b"text\nfine\n", headers={"Prefer": "wait=30"}, output="jsonl")
        assert waited.status_code == 200 and waited.headers["content-type"].startswith("application/x-ndjson")
        assert waited.text.startswith('{"text":"fine","prediction":')

        broken = upload(client, b"body\nfine\n", headers=ASYNC)
        failed = finished(client, broken.headers["location"])
        assert failed["status"] == "failed" and "lacks the columns text" in failed["error"]["detail"]
        assert client.get(broken.headers["location"] + "/result").status_code == 409
    finally:
        stop(worker)
