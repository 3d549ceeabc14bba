"""API keys on a real PostgreSQL database: the CLI creates, lists and revokes them; the service verifies
them (salted hash, constant-time), refuses wrong, expired and revoked ones, and the admin API manages them."""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select, text

from api_app.database import api_keys, audit_events
from common.settings import REPO_ROOT
from helpers.app import make_key, running_app

SAMPLE = {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2012"}


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "api_app.keys", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def closed_client(postgres_url, tmp_path):
    """sampleapi with AUTH_MODE=on on a fresh PostgreSQL database; anonymous callers may only read."""
    with running_app(
        model_service=("sampleapi",),
        auth_mode="on",
        anonymous_scopes=("read",),
        database_url=postgres_url,
        state_dir=tmp_path,
        api_key_cache_seconds=60,
    ) as client:
        yield client


def test_cli_brings_an_empty_database_up_and_manages_keys(postgres_url):
    created = cli(postgres_url, "create", "--name", "first-admin", "--scopes", "compute,admin")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("sids_") and len(key) > 50 and " " not in key
    listed = cli(postgres_url, "list")
    key_id = key.split("_")[1]
    assert key_id in listed.stdout and "active" in listed.stdout and "first-admin" in listed.stdout
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        row = connection.execute(select(api_keys)).one()
        stored = " ".join(str(v) for v in row)
        events = connection.execute(select(audit_events.c.event, audit_events.c.caller)).all()
    assert key.split("_", 2)[2] not in stored and len(row.secret_hash) == 64 and len(row.salt) == 32
    assert ("key_created", "cli") in events
    assert cli(postgres_url, "create", "--name", "x", "--scopes", "root").returncode == 2
    revoked = cli(postgres_url, "revoke", key_id)
    assert revoked.returncode == 0 and "revoked" in cli(postgres_url, "list").stdout
    assert cli(postgres_url, "revoke", "ffffffffffffffff").returncode == 1
    engine.dispose()


def test_keys_grant_their_scopes_and_wrong_keys_are_refused(closed_client):
    app = closed_client.app
    assert closed_client.get("/params").status_code == 200  # anonymous read
    denied = closed_client.post("/sampleapi/predict", json=SAMPLE)
    assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Bearer")
    compute = make_key(app, "compute")
    answer = closed_client.post("/sampleapi/predict", json=SAMPLE, headers={"X-API-Key": compute})
    assert answer.status_code == 200 and answer.json()["sids"]["countries"] > 0
    assert answer.headers["cache-control"] == "no-store"
    forged = compute[:-4] + ("AAAA" if not compute.endswith("AAAA") else "BBBB")
    for wrong in (forged, "sids_0000000000000000_nothing", "not-a-key"):
        refused = closed_client.post("/sampleapi/predict", json=SAMPLE, headers={"X-API-Key": wrong})
        assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    expired = make_key(app, "compute", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert (
        closed_client.post("/sampleapi/predict", json=SAMPLE, headers={"X-API-Key": expired}).status_code
        == 401
    )
    assert closed_client.get("/audit", headers={"X-API-Key": compute}).status_code == 403


def test_a_key_revoked_mid_run_stops_working(closed_client, postgres_url):
    app = closed_client.app
    admin = make_key(app, "admin")
    worker = closed_client.post(
        "/keys", json={"name": "batch-job", "scopes": ["compute"]}, headers={"X-API-Key": admin}
    )
    assert worker.status_code == 201
    created = worker.json()
    assert set(created) >= {"id", "key", "scopes"} and created["scopes"] == ["compute"]
    key = created["key"]
    call = lambda: closed_client.post("/sampleapi/predict", json=SAMPLE, headers={"X-API-Key": key})  # noqa: E731
    assert call().status_code == 200
    listing = closed_client.get("/keys", headers={"X-API-Key": admin}).json()
    assert created["id"] in [k["id"] for k in listing] and all("key" not in k for k in listing)
    revoked = closed_client.post(f"/keys/{created['id']}/revoke", headers={"X-API-Key": admin})
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert call().status_code == 401
    # revoked from another process (the CLI): refused once the verified-key cache (≤ 60 s) lapses
    other = make_key(app, "compute")
    assert (
        closed_client.post("/sampleapi/predict", json=SAMPLE, headers={"X-API-Key": other}).status_code == 200
    )
    assert cli(postgres_url, "revoke", other.split("_")[1]).returncode == 0
    app.state.keys._cache.clear()  # what the passing of API_KEY_CACHE_SECONDS does
    assert (
        closed_client.post("/sampleapi/predict", json=SAMPLE, headers={"X-API-Key": other}).status_code == 401
    )
    app.state.audit.flush()
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT event, detail, body, result_summary FROM audit_events")).all()
    engine.dispose()
    assert {"key_created", "key_revoked", "denied", "model_call"} <= {r.event for r in rows}
    for row in rows:
        assert key not in " ".join(str(v) for v in row) and admin not in " ".join(str(v) for v in row)


def test_the_key_cache_never_outlives_its_setting(closed_client):
    store = closed_client.app.state.keys
    key = make_key(closed_client.app, "read")
    assert store.verify(key) is not None
    expiry = store._cache[key.split("_")[1]][0]
    assert 0 < expiry - time.monotonic() <= 60
