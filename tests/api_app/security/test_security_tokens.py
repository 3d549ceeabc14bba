"""OIDC bearer tokens against a JWKS the test serves itself, signed with keys the test generates: valid
tokens grant the scopes their `scp`/`roles` map to; expired, wrong audience, wrong issuer, unknown `kid`,
`alg: none`, a forged signature and an HMAC token keyed with the public key are all refused; a rotated key set
is fetched again."""

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import RSAAlgorithm

from helpers.app import running_app

ISSUER = "https://login.example.test/tenant-0001/v2.0"
AUDIENCE = "api://sids-ml-backend"
COOLDOWN = 1.0
SAMPLE = {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2012"}


class Jwks:
    """Signing keys (kid → private key) and the JWKS document of their public halves."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0

    def add(self, kid: str) -> rsa.RSAPrivateKey:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.keys[kid]

    def document(self) -> bytes:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return json.dumps({"keys": keys}).encode()


@contextlib.contextmanager
def jwks_server(jwks: Jwks):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            jwks.fetches += 1
            body = jwks.document()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/discovery/v2.0/keys"
    finally:
        server.shutdown()
        server.server_close()


def claims(**overrides) -> dict:
    now = int(time.time())
    values = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "service-principal-42",
        "iat": now,
        "nbf": now - 5,
        "exp": now + 600,
        "scp": "Models.Read Models.Compute",
        "azp": "dashboard-backend",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


@pytest.fixture(scope="module")
def jwks():
    keys = Jwks()
    keys.add("key-1")
    return keys


@pytest.fixture(scope="module")
def token_client(jwks, tmp_path_factory):
    with (
        jwks_server(jwks) as url,
        running_app(
            model_service=("sampleapi",),
            auth_mode="on",
            anonymous_scopes=("read",),
            oidc_issuer=ISSUER,
            oidc_audience=AUDIENCE,
            oidc_jwks_url=url,
            oidc_jwks_cooldown_seconds=COOLDOWN,
            state_dir=tmp_path_factory.mktemp("state"),
            oidc_scope_map=("Models.Read=read", "Models.Compute=compute", "Sids.Admin=admin"),
        ) as client,
    ):
        yield client


def sign(jwks: Jwks, kid: str = "key-1", **overrides) -> str:
    return jwt.encode(claims(**overrides), jwks.keys[kid], algorithm="RS256", headers={"kid": kid})


def predict(client, token: str):
    return client.post("/sampleapi/predict", json=SAMPLE, headers={"Authorization": f"Bearer {token}"})


def test_a_valid_token_grants_its_mapped_scopes(token_client, jwks):
    answer = predict(token_client, sign(jwks))
    assert answer.status_code == 200 and answer.json()["sids"]["countries"] > 0
    assert answer.headers["cache-control"] == "no-store"
    # `scp` grants read+compute, not admin; an app role grants admin
    assert token_client.get("/audit", headers={"Authorization": f"Bearer {sign(jwks)}"}).status_code == 403
    admin = sign(jwks, scp=None, roles=["Sids.Admin"])
    audit = token_client.get(
        "/audit",
        params={"caller": "token:service-principal-42"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert audit.status_code == 200
    assert any(r["route"] == "/sampleapi/predict" and r["status"] == 200 for r in audit.json()["items"])


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "wrong_issuer",
        "unknown_kid",
        "alg_none",
        "forged_signature",
        "hmac_with_public_key",
        "no_subject",
        "garbage",
    ],
)
def test_bad_tokens_are_refused(token_client, jwks, case):
    now = int(time.time())
    if case == "expired":
        token = sign(jwks, exp=now - 120, iat=now - 720, nbf=now - 720)
    elif case == "not_yet_valid":
        token = sign(jwks, nbf=now + 600)
    elif case == "wrong_audience":
        token = sign(jwks, aud="api://someone-else")
    elif case == "wrong_issuer":
        token = sign(jwks, iss="https://evil.example.test/v2.0")
    elif case == "unknown_kid":
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode(claims(), stranger, algorithm="RS256", headers={"kid": "key-unknown"})
    elif case == "alg_none":
        token = jwt.encode(claims(), None, algorithm="none", headers={"kid": "key-1"})
    elif case == "forged_signature":
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode(claims(), stranger, algorithm="RS256", headers={"kid": "key-1"})
    elif case == "hmac_with_public_key":
        public_pem = (
            jwks.keys["key-1"].public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )
        token = jwt.api_jws.PyJWS().encode(
            json.dumps(claims()).encode(), public_pem[:32], algorithm="HS256", headers={"kid": "key-1"}
        )
    elif case == "no_subject":
        token = sign(jwks, sub=None)
    else:
        token = "not.a.token"
    refused = predict(token_client, token)
    assert refused.status_code == 401, (case, refused.text)
    body = refused.json()
    assert body["code"] == "unauthorized" and "refused" in body["detail"]
    assert token not in refused.text


def test_rotated_keys_are_fetched_again(token_client, jwks):
    time.sleep(COOLDOWN)  # forced refetches are at least OIDC_JWKS_COOLDOWN_SECONDS apart
    before = jwks.fetches
    jwks.add("key-2")
    answer = predict(token_client, sign(jwks, kid="key-2"))
    assert answer.status_code == 200, answer.text
    assert jwks.fetches > before
