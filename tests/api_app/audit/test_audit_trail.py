"""The audit trail on SQLite: what model calls, jobs, admin actions and refusals record; GET /audit filters,
cursor pages and CSV; canonical body hashes; bodies only when asked; retention; job ownership."""

import base64
import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from api_app.audit.middleware import body_hash
from api_app.database import audit_events
from helpers.app import make_key, running_app

SAMPLE = {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2012"}


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """sampleapi, AUTH_MODE=on with the default anonymous scopes, SQLite in a fresh folder."""
    with running_app(
        model_service=("sampleapi",), auth_mode="on", state_dir=tmp_path_factory.mktemp("audit-state")
    ) as client:
        client.admin = make_key(client.app, "admin")
        yield client


def audit(client, **params) -> dict:
    answer = client.get("/audit", params=params, headers={"X-API-Key": client.admin})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_model_calls_are_recorded_with_what_matters(audited):
    key = make_key(audited.app, "compute", name="analyst")
    answer = audited.post(
        "/sampleapi/predict", json=SAMPLE, headers={"X-API-Key": key, "X-Request-ID": "req-audit-1"}
    )
    assert answer.status_code == 200
    [record] = audit(audited, request_id="req-audit-1")["items"]
    assert record["caller"] == f"key:{key.split('_')[1]}" and record["caller_kind"] == "key"
    assert (record["event"], record["scope"], record["model"], record["route"], record["method"]) == (
        "model_call",
        "compute",
        "sampleapi",
        "/sampleapi/predict",
        "POST",
    )
    assert record["status"] == 200 and 0 < record["duration_ms"] < 60_000
    assert record["body_hash"] == body_hash(json.dumps(SAMPLE).encode()) and record["body"] is None
    summary = json.loads(record["result_summary"])
    assert summary["bytes"] == len(answer.content) and "sids" in summary["keys"]
    assert datetime.fromisoformat(record["at"]) > datetime.now(UTC) - timedelta(minutes=5)
    assert key not in json.dumps(record)


def test_equal_bodies_hash_alike_whatever_their_key_order():
    assert body_hash(b'{"a": 1, "b": [1, 2]}') == body_hash(b'{"b":[1,2],"a":1}')
    assert body_hash(b'{"a": 1}') != body_hash(b'{"a": 2}')
    assert body_hash(b"") is None and len(body_hash(b"not json")) == 64


def test_refusals_are_recorded_without_secrets(audited):
    bogus = "sids_0123456789abcdef_definitely-not-valid"
    assert (
        audited.post(
            "/sampleapi/predict", json=SAMPLE, headers={"X-API-Key": bogus, "X-Request-ID": "req-denied"}
        ).status_code
        == 401
    )
    assert audited.get("/audit", headers={"X-Request-ID": "req-forbidden"}).status_code == 401
    denied = audit(audited, event="denied")["items"]
    by_request = {r["request_id"]: r for r in denied}
    assert by_request["req-denied"]["detail"] == "invalid_credentials"
    assert by_request["req-forbidden"]["detail"] == "missing_scope:admin"
    assert bogus not in json.dumps(denied) and "definitely-not-valid" not in json.dumps(denied)


def test_filters_cursor_pages_and_csv(audited):
    key = make_key(audited.app, "compute", name="pager")
    caller = f"key:{key.split('_')[1]}"
    for year in range(2005, 2012):
        body = {**SAMPLE, "year": str(year)}
        assert audited.post("/sampleapi/predict", json=body, headers={"X-API-Key": key}).status_code == 200
    assert audited.post("/sampleapi/predict", json={}, headers={"X-API-Key": key}).status_code == 422
    seen, cursor = [], None
    while True:
        page = audit(audited, caller=caller, limit=3, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 3
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [r["id"] for r in seen]
    assert len(seen) == 8 and ids == sorted(ids, reverse=True) and len(set(ids)) == 8
    assert [r["status"] for r in audit(audited, caller=caller, status=422)["items"]] == [422]
    assert (
        json.loads(audit(audited, caller=caller, status=422)["items"][0]["result_summary"])["error"]
        == "invalid_input"
    )
    assert audit(audited, caller=caller, model="nosuchmodel")["items"] == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert audit(audited, caller=caller, since=future)["items"] == []
    assert len(audit(audited, caller=caller, until=future)["items"]) == 8
    exported = audited.get(
        "/audit", params={"caller": caller, "format": "csv"}, headers={"X-API-Key": audited.admin}
    )
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(r["id"]) for r in rows] == ids and {r["route"] for r in rows} == {"/sampleapi/predict"}
    assert (
        audited.get("/audit", params={"cursor": "!!"}, headers={"X-API-Key": audited.admin}).status_code
        == 422
    )


def test_retention_prunes_old_records(audited):
    writer = audited.app.state.audit
    old = datetime.now(UTC) - timedelta(days=writer.retention_days + 1)
    with audited.app.state.database.begin() as connection:
        connection.execute(
            insert(audit_events),
            [{"at": old, "event": "model_call", "caller": "old-caller", "caller_kind": "key"}],
        )
    assert len(audit(audited, caller="old-caller")["items"]) == 1
    assert writer.prune() >= 1
    assert audit(audited, caller="old-caller")["items"] == []


def test_bodies_are_stored_only_when_asked(tmp_path):
    with running_app(
        model_service=("sampleapi",), auth_mode="on", audit_store_bodies=True, state_dir=tmp_path
    ) as client:
        admin = make_key(client.app, "admin")
        assert (
            client.post("/sampleapi/predict", json=SAMPLE, headers={"X-Request-ID": "req-body"}).status_code
            == 200
        )
        [record] = client.get(
            "/audit", params={"request_id": "req-body"}, headers={"X-API-Key": admin}
        ).json()["items"]
        assert json.loads(record["body"]) == SAMPLE


def test_jobs_belong_to_their_caller(audited):
    app = audited.app
    owner, other, admin = (
        make_key(app, "compute"),
        make_key(app, "compute"),
        make_key(app, "admin", "compute"),
    )
    accepted = audited.post(
        "/sampleapi/predict",
        json={**SAMPLE, "year": "2003"},
        headers={"X-API-Key": owner, "Prefer": "respond-async"},
    )
    assert accepted.status_code == 202
    location = accepted.headers["location"]
    for key in (other, None):
        headers = {"X-API-Key": key} if key else {}
        for answer in (
            audited.get(location, headers=headers),
            audited.get(location + "/result", headers=headers),
            audited.post(location + "/cancel", headers=headers),
        ):
            assert answer.status_code == 404, answer.text
    assert audited.get(location, headers={"X-API-Key": admin}).status_code == 200
    deadline = time.monotonic() + 30
    while (job := audited.get(location, headers={"X-API-Key": owner}).json())["status"] not in (
        "succeeded",
        "failed",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["status"] == "succeeded" and "owner" not in job
    assert audited.get(location + "/result", headers={"X-API-Key": owner}).json()["sids"]["countries"] > 0
    job_id = location.rsplit("/", 1)[1]
    records = audit(audited, job_id=job_id)["items"]
    assert {"model_call", "job"} <= {r["event"] for r in records}
    assert any(r["route"] == "/jobs/{job_id}/cancel" and r["status"] == 404 for r in records)
    assert any(r["status"] == 202 and r["route"] == "/sampleapi/predict" for r in records)
    # an anonymous job is reachable by anyone holding its id
    anonymous = audited.post(
        "/sampleapi/predict", json={**SAMPLE, "year": "2004"}, headers={"Prefer": "respond-async"}
    )
    assert audited.get(anonymous.headers["location"], headers={"X-API-Key": other}).status_code == 200


def test_bad_admin_requests_are_clear_422s(audited):
    admin = {"X-API-Key": audited.admin}
    for body, field in (
        ({"name": "   ", "scopes": ["read"]}, "body.name"),
        ({"name": "x", "scopes": ["root"]}, "body.scopes"),
        ({"name": "x", "scopes": ["read"], "rate_limit": "lots"}, "body.rate_limit"),
    ):
        answer = audited.post("/keys", json=body, headers=admin)
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == field, answer.text
    huge = base64.urlsafe_b64encode(b"9" * 29).decode()
    assert audited.get("/audit", params={"cursor": huge}, headers=admin).status_code == 422
    assert audited.post("/keys/ffffffffffffffff/revoke", headers=admin).status_code == 404
