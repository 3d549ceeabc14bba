"""Security headers on every answer; a CSP that lets the self-hosted Swagger UI run (no CDN, no unsafe-eval);
no-store on authenticated answers; CORS for the headers access control needs; the internal metrics port."""

import base64
import hashlib
import re

import httpx

from api_app.security.headers import INLINE_SCRIPT
from helpers.app import make_key, running_app
from helpers.servers import free_port

ORIGIN = "https://data.undp.org"


def csp_directives(value: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in value.split(";") if d.strip()}


def test_every_answer_carries_the_security_headers(client):
    for answer in (
        client.get("/"),
        client.get("/health/live"),
        client.get("/nowhere"),
        client.post("/params"),
    ):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert answer.headers["x-frame-options"] == "DENY"
        assert csp_directives(answer.headers["content-security-policy"])["default-src"] == ["'none'"]


def test_docs_run_from_this_origin_under_their_csp(client):
    page = client.get("/docs")
    assert page.status_code == 200
    csp = csp_directives(page.headers["content-security-policy"])
    scripts = csp["script-src"]
    assert "'unsafe-eval'" not in scripts and "'unsafe-inline'" not in scripts
    assert not [s for s in scripts if s.startswith(("http", "*"))] and csp["connect-src"] == ["'self'"]
    inline = INLINE_SCRIPT.findall(page.content)
    assert inline and all(
        f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'" in scripts for s in inline
    )
    for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert url.startswith("/"), f"/docs loads {url} from another host"
        assert client.get(url).status_code == 200
    redoc = client.get("/redoc")
    assert redoc.status_code == 200 and "cdn." not in redoc.text


def test_authenticated_answers_are_not_stored(tmp_path):
    with running_app(
        model_service=("sampleapi",),
        auth_mode="on",
        state_dir=tmp_path,
        metrics_port=(metrics_port := free_port()),
    ) as client:
        key = make_key(client.app, "read", "admin")
        assert "no-store" not in client.get("/params").headers.get("cache-control", "")
        keyed = client.get("/params", headers={"X-API-Key": key})
        assert keyed.headers["cache-control"] == "no-store"
        assert keyed.headers["ratelimit-limit"] and keyed.headers["ratelimit-remaining"]
        # /metrics: admin on the public port, open on the internal one
        assert client.get("/metrics").status_code == 401
        public = client.get("/metrics", headers={"X-API-Key": key})
        assert public.status_code == 200 and "sids_http_requests_total" in public.text
        internal = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert internal.status_code == 200 and "sids_http_requests_total" in internal.text
        assert 'route="/params"' in internal.text
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/params", timeout=10).status_code == 404


def test_cors_allows_the_access_headers_and_exposes_the_limits(client):
    preflight = client.options(
        "/sampleapi/predict",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-api-key, prefer, if-none-match, content-type",
        },
    )
    assert preflight.status_code == 200
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "x-api-key", "prefer", "if-none-match", "content-type"} <= allowed
    answer = client.get("/", headers={"Origin": ORIGIN})
    exposed = {h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert {
        "location",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "etag",
    } <= exposed
