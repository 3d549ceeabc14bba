"""Fair use: cost-weighted rate limits per caller (shared through a real Redis by every app instance),
429 with Retry-After and RateLimit-* in the common error shape, reset after the window; caps on concurrent
heavy work per caller and for all anonymous callers together; client addresses from X-Forwarded-For only
behind a trusted proxy."""

import contextlib
import time

import pytest
from fastapi.testclient import TestClient

from api_app.factory import create_app
from api_app.security.clients import client_address
from helpers.app import make_key, make_settings, models_package

SLOW_HEAVY = """
import time
from fastapi import APIRouter, Request
from pydantic import Field
from api_app.run_model import run_model
from common.requests import ModelRequest

router = APIRouter(prefix="/heavytest")


class Wait(ModelRequest):
    seconds: float = Field(0.5, ge=0, le=10)


def wait(body, data, progress=None):
    time.sleep(body.seconds)
    return {"slept": body.seconds}


@router.post("/backtest")
async def backtest(request: Request, body: Wait):
    return await run_model(request, wait, body, cache_results=False)


@router.post("/quick")
async def quick(request: Request, body: Wait):
    return await run_model(request, wait, body, cache_results=False)
"""


@contextlib.contextmanager
def app_client(package: str, state_dir, peer: str = "203.0.113.10", **overrides):
    settings = make_settings(auth_mode="on", state_dir=state_dir, **overrides)
    with TestClient(create_app(settings, models_package=package), client=(peer, 40000)) as client:
        yield client


@pytest.fixture
def heavy_package(tmp_path, monkeypatch):
    return models_package(tmp_path, monkeypatch, "fairuse_models", {"heavytest": SLOW_HEAVY})


def test_limits_are_reached_shared_through_redis_and_reset(heavy_package, tmp_path, redis_conn, redis_url):
    """Two app instances (two pods) on one Redis share one budget of 6 units per 2 s: quick calls cost 2."""
    limits = {"rate_limit_anonymous": "6/2 seconds", "rate_cost_compute": 2, "redis_url": redis_url}
    with (
        app_client(heavy_package, tmp_path, **limits) as pod_a,
        app_client(heavy_package, tmp_path, **limits) as pod_b,
    ):
        body = {"seconds": 0}
        first = pod_a.post("/heavytest/quick", json=body)
        assert first.status_code == 200
        assert (first.headers["ratelimit-limit"], first.headers["ratelimit-remaining"]) == ("6", "4")
        assert pod_b.post("/heavytest/quick", json=body).status_code == 200
        assert pod_a.post("/heavytest/quick", json=body).headers["ratelimit-remaining"] == "0"
        over = pod_b.post("/heavytest/quick", json=body)
        assert over.status_code == 429
        assert over.json()["code"] == "rate_limited" and "6/2 seconds" in over.json()["detail"]
        assert 1 <= int(over.headers["retry-after"]) <= 2
        assert over.headers["ratelimit-remaining"] == "0" and over.headers["ratelimit-limit"] == "6"
        # a listing costs 1 and is over the limit too; another client address has its own budget
        assert pod_a.get("/params").status_code == 429
        with app_client(heavy_package, tmp_path, peer="198.51.100.7", **limits) as elsewhere:
            assert elsewhere.post("/heavytest/quick", json=body).status_code == 200
        assert any(k.startswith(b"sids-limits") for k in redis_conn.keys("*"))
        time.sleep(int(over.headers["retry-after"]) + 0.1)
        assert pod_b.post("/heavytest/quick", json=body).status_code == 200


def test_keys_have_their_own_budget_and_their_own_limit(heavy_package, tmp_path):
    with app_client(
        heavy_package, tmp_path, rate_limit_anonymous="2/minute", rate_limit_authenticated="4/minute"
    ) as client:
        tight = make_key(client.app, "read", rate_limit="1/minute")
        roomy = make_key(client.app, "read")
        assert client.get("/params", headers={"X-API-Key": tight}).status_code == 200
        assert client.get("/params", headers={"X-API-Key": tight}).status_code == 429
        statuses = [client.get("/params", headers={"X-API-Key": roomy}).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 200, 429]
        assert [client.get("/params").status_code for _ in range(3)] == [200, 200, 429]


def test_heavy_work_is_capped_per_caller_and_for_all_anonymous_callers(heavy_package, tmp_path):
    caps = {"heavy_concurrency_per_caller": 1, "heavy_concurrency_anonymous": 2, "rate_cost_heavy": 1}
    heavy = {"json": {"seconds": 1.5}}

    def as_client(address: str, **headers) -> dict:
        return {**heavy, "headers": {"Prefer": "respond-async", "X-Forwarded-For": address, **headers}}

    with app_client(
        heavy_package, tmp_path, peer="10.0.0.2", trusted_proxies=("10.0.0.0/8",), **caps
    ) as client:
        job = client.post("/heavytest/backtest", **as_client("192.0.2.1"))
        assert job.status_code == 202
        busy = client.post("/heavytest/backtest", **as_client("192.0.2.1"))
        assert (
            busy.status_code == 429 and busy.json()["code"] == "rate_limited" and busy.headers["retry-after"]
        )
        light = client.post("/heavytest/quick", json={"seconds": 0}, headers={"X-Forwarded-For": "192.0.2.1"})
        assert light.status_code == 200  # light work still flows
        assert client.post("/heavytest/backtest", **as_client("192.0.2.2")).status_code == 202
        pooled = client.post("/heavytest/backtest", **as_client("192.0.2.3"))
        assert pooled.status_code == 429 and "anonymous callers together" in pooled.json()["detail"]
        key = make_key(client.app, "compute")
        assert (
            client.post("/heavytest/backtest", **as_client("192.0.2.3", **{"X-API-Key": key})).status_code
            == 202
        )
        deadline = time.monotonic() + 10
        while (
            client.get(job.headers["location"]).json()["status"] != "succeeded"
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert client.post("/heavytest/backtest", **as_client("192.0.2.1")).status_code == 202  # room again


def scope_of(peer: str, forwarded: str | None = None) -> dict:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"client": (peer, 1234), "headers": headers}


def test_forwarded_addresses_are_believed_only_from_trusted_proxies():
    trusted = ("10.0.0.0/8", "fd00::/8")
    assert client_address(scope_of("203.0.113.9", "1.2.3.4"), trusted) == "203.0.113.9"
    assert client_address(scope_of("10.1.2.3", "198.51.100.4"), trusted) == "198.51.100.4"
    # a client cannot forge its address by sending the header itself: the rightmost untrusted hop counts
    assert client_address(scope_of("10.1.2.3", "6.6.6.6, 198.51.100.4, 10.9.9.9"), trusted) == "198.51.100.4"
    assert client_address(scope_of("10.1.2.3", "6.6.6.6, 198.51.100.4"), ()) == "10.1.2.3"
    assert client_address(scope_of("fd00::1", "2001:db8::7"), trusted) == "2001:db8::7"


def test_the_forwarded_client_gets_its_own_budget_behind_a_trusted_proxy(heavy_package, tmp_path):
    with app_client(
        heavy_package,
        tmp_path,
        peer="10.0.0.2",
        trusted_proxies=("10.0.0.0/8",),
        rate_limit_anonymous="1/minute",
    ) as client:
        assert client.get("/params", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 200
        assert client.get("/params", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429
        assert client.get("/params", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 200
