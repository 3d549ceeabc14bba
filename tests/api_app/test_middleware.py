"""Methods, body limits, malformed JSON and CORS."""

import pytest

from common.constants import DEFAULT_CORS_ORIGINS
from helpers.app import running_app


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "HEAD", "TRACE"])
def test_methods_other_than_get_post_options_are_405(client, method):
    response = client.request(method, "/params")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, OPTIONS"
    if method != "HEAD":
        assert response.json()["code"] == "method_not_allowed"


def test_a_body_over_the_limit_is_413_before_parsing():
    with running_app(model_service=("sampleapi",), max_body_bytes=2048) as client:
        big = b'{"indicator": "' + b"x" * 4096 + b'"}'
        response = client.post(
            "/sampleapi/predict", content=big, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json() == {
            "code": "payload_too_large",
            "errors": [],
            "error_count": 0,
            "detail": "The request body is larger than the limit of 2048 bytes.",
        }

        def chunks():
            for _ in range(8):
                yield b"x" * 512

        streamed = client.post(
            "/sampleapi/predict", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        small = client.post("/sampleapi/predict", json={"indicator": "wdi-EG.ELC.ACCS.ZS"})
        assert small.status_code == 200


def test_a_chunked_body_under_the_limit_is_passed_through(client):
    def chunks():
        yield b'{"indicator": "wdi-EG.ELC'
        yield b'.ACCS.ZS", "year": "2010"}'

    response = client.post(
        "/sampleapi/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["year"] == "2010"


def test_malformed_json_is_422_in_the_common_shape(client):
    response = client.post(
        "/sampleapi/predict", content=b'{"indicator": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input"
    assert "not valid JSON" in body["detail"]


def test_missing_field_is_422_naming_the_field(client):
    body = client.post("/sampleapi/predict", json={"year": "2015"}).json()
    assert body["errors"][0]["field"] == "body.indicator"
    assert body["errors"][0]["message"] == "Field required"


def test_unknown_path_is_404_in_the_common_shape(client):
    body = client.get("/no/such/path")
    assert body.status_code == 404
    assert body.json()["code"] == "not_found"


def test_every_response_carries_a_request_id(client):
    assert len(client.get("/health/live").headers["x-request-id"]) == 32
    assert client.get("/health/live", headers={"x-request-id": "abc"}).headers["x-request-id"] == "abc"


@pytest.mark.parametrize("origin", DEFAULT_CORS_ORIGINS)
def test_dashboard_origins_are_allowed_by_default(client, origin):
    simple = client.get("/params", headers={"origin": origin})
    assert simple.headers["access-control-allow-origin"] == origin
    preflight = client.options(
        "/twolvlImp/predict",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "POST" in preflight.headers["access-control-allow-methods"]


def test_unknown_origins_get_no_cors_headers(client):
    simple = client.get("/params", headers={"origin": "https://evil.example"})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers
    preflight = client.options(
        "/sampleapi/predict",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allow_list_comes_from_settings():
    with running_app(model_service=("sampleapi",), cors_origins=("https://a.example",)) as client:
        allowed = client.get("/", headers={"origin": "https://a.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://a.example"
        default = client.get("/", headers={"origin": "https://data.undp.org"})
        assert "access-control-allow-origin" not in default.headers
