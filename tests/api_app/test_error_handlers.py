"""Errors a newcomer meets: unknown fields with a suggestion, non-JSON bodies (415), unparsable JSON
with line and column, and the wrong method on a path."""

import pytest

from common.requests import unknown_field_message
from models._artifacts.v2 import InferenceRequest
from models.twolvlImp.schemas import SIMPLE_EXAMPLE, TrainRequest


def test_a_misspelt_field_is_422_naming_it_and_the_closest_valid_one(client):
    body = {**SIMPLE_EXAMPLE, "histroy": False}
    del body["history"]
    response = client.post("/twolvlImp/predict", json=body)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "body.histroy"
    assert "Unknown field 'histroy'; did you mean 'history'?" in error["message"]
    assert "interpolator" in error["message"]


def test_an_unknown_field_without_a_close_match_lists_the_valid_ones(client):
    response = client.post("/sampleapi/predict", json={"indicator": "wdi-EG.ELC.ACCS.ZS", "colour": "red"})
    assert response.status_code == 422
    message = response.json()["errors"][0]["message"]
    assert message.startswith("Unknown field 'colour'; Valid fields: indicator, year")


def test_unknown_fields_inside_nested_objects_are_named_too(client):
    body = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["fine"], "dtype": "x"}]}
    response = client.post("/v2/models/sentiment/infer", json=body)
    assert response.status_code == 422
    assert any(e["field"] == "body.inputs.0.dtype" for e in response.json()["errors"])


def test_the_hint_walks_into_nested_models():
    assert "did you mean 'model'?" in unknown_field_message(TrainRequest, ("modle",))
    nested = unknown_field_message(InferenceRequest, ("inputs", 0, "nmae"))
    assert "did you mean 'name'?" in nested and "datatype" in nested
    assert unknown_field_message(None, ("x",)) == "Unknown field 'x'"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_json_endpoint_refuses_other_content_types_with_415(client, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = client.post(
        "/sampleapi/predict", content=b'{"indicator": "wdi-EG.ELC.ACCS.ZS"}', headers=headers
    )
    assert response.status_code == 415
    body = response.json()
    assert body["code"] == "unsupported_media_type" and "application/json" in body["detail"]


def test_json_with_a_charset_or_a_json_suffix_is_accepted(client):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = client.post(
            "/sampleapi/predict",
            content=b'{"indicator": "wdi-EG.ELC.ACCS.ZS"}',
            headers={"content-type": content_type},
        )
        assert response.status_code == 200, content_type


def test_unparsable_json_says_where(client):
    document = b'{\n  "indicator": "wdi-EG.ELC.ACCS.ZS"\n  "year": "2010"\n}'
    response = client.post(
        "/sampleapi/predict", content=document, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "body"
    assert error["message"] == "The body is not valid JSON: Expecting ',' delimiter at line 3, column 3."


def test_get_on_a_post_only_path_says_which_method_to_use(client):
    response = client.get("/twolvlImp/predict")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["detail"] == (
        "GET is not allowed on /twolvlImp/predict; use POST with a JSON body (see /docs)."
    )


def test_upload_endpoints_keep_their_multipart_type(client):
    upload = {"file": ("reviews.csv", b"text\nGreat food.\nAwful service.\n", "text/csv")}
    response = client.post("/sentiment/batch", files=upload)
    assert response.status_code in (200, 202), response.text
