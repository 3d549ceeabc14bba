"""Scored files of embedded batch jobs live on disk (JOB_FILES_DIR) within JOB_FILES_MAX_BYTES, not in
the API's memory: the job keeps no content, a full budget refuses new file jobs with 503 + Retry-After,
and an expired job's file is deleted."""

import os
import time

import pandas as pd
import pytest

from helpers.app import poll_job, running_app

ASYNC = {"Prefer": "respond-async"}


def reviews_csv(rows: int) -> bytes:
    texts = ["Loved it!", "Worst purchase ever.", "meh, ok"]
    return (
        pd.DataFrame({"id": range(rows), "text": [texts[i % 3] for i in range(rows)]})
        .to_csv(index=False)
        .encode()
    )


def upload(client, content: bytes, headers=ASYNC):
    return client.post("/sentiment/batch", files={"file": ("reviews.csv", content)}, headers=headers)


@pytest.fixture
def files_dir(tmp_path):
    return tmp_path / "job-files"


@pytest.fixture
def small_budget_client(files_dir):
    with running_app(
        model_service=("sentiment",), job_files_dir=files_dir, job_files_max_bytes=6000
    ) as client:
        yield client


def test_the_scored_file_is_on_disk_and_not_in_the_job(small_budget_client, files_dir):
    client = small_budget_client
    accepted = upload(client, reviews_csv(40))
    job = poll_job(client, accepted.headers["location"])
    assert job["status"] == "succeeded", job
    stored = files_dir / job["id"]
    assert stored.is_file() and stored.stat().st_size == job["result"]["size"]
    kept = client.app.state.jobs._jobs[job["id"]].result
    assert kept["content"] == "" and kept["path"] == str(stored), "the API keeps only a reference"
    fetched = client.get(job["result"]["href"])
    assert fetched.status_code == 200 and fetched.content == stored.read_bytes()
    assert fetched.content == upload(client, reviews_csv(40), headers=None).content


def test_a_full_budget_refuses_new_file_jobs_until_old_files_expire(small_budget_client, files_dir):
    client = small_budget_client
    first = poll_job(client, upload(client, reviews_csv(90)).headers["location"])
    assert first["status"] == "succeeded" and first["result"]["size"] > 4500
    refused = upload(client, reviews_csv(90))
    assert refused.status_code == 503
    assert refused.json()["code"] == "overloaded" and int(refused.headers["retry-after"]) > 0
    assert "full" in refused.json()["detail"]
    assert sorted(os.listdir(files_dir)) == [first["id"]]

    client.app.state.jobs._jobs[first["id"]].expires_at = time.monotonic() - 1  # its TTL has passed
    assert client.get(f"/jobs/{first['id']}").status_code == 404
    assert os.listdir(files_dir) == [], "the expired job's file is deleted"
    again = poll_job(client, upload(client, reviews_csv(90)).headers["location"])
    assert again["status"] == "succeeded"


def test_a_file_larger_than_the_room_left_fails_its_job_with_503(small_budget_client, files_dir):
    accepted = upload(small_budget_client, reviews_csv(150))
    assert accepted.status_code == 202, "the upload itself fits"
    job = poll_job(small_budget_client, accepted.headers["location"])
    assert job["status"] == "failed" and job["error"]["code"] == "overloaded"
    assert "does not fit" in job["error"]["detail"]
    assert not files_dir.exists() or os.listdir(files_dir) == []


def test_files_left_by_an_earlier_process_are_removed_once_expired(files_dir):
    files_dir.mkdir()
    stale, fresh = files_dir / "stale-job", files_dir / "fresh-job"
    stale.write_text("old")
    fresh.write_text("new")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    with running_app(model_service=("sampleapi",), job_files_dir=files_dir, job_result_ttl_seconds=3600):
        assert sorted(os.listdir(files_dir)) == ["fresh-job"]
