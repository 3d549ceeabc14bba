"""Large JSON bodies: parsed and validated off the event loop, bounded, answered with a short error."""

import json
import threading
import time

import httpx
import pytest
from fastapi.routing import APIRoute

from common.body import INLINE_BODY_BYTES, OffLoopBodyRoute
from common.errors import MAX_LISTED_ERRORS
from helpers.app import running_app
from helpers.servers import live_server

HUGE_METADATA = json.dumps(
    {"data": {"q": [1]}, "metadata": [0.5] * 1_000_000, "factor": "x", "max_k": 2}
).encode()
"""The 4.8 MB /survey/clustering body whose metadata holds 10^6 non-objects."""


def post_json(client, path: str, content: bytes):
    return client.post(path, content=content, headers={"content-type": "application/json"})


@pytest.fixture(scope="module")
def survey_client():
    with running_app(model_service=("SurveyCluster",)) as client:
        yield client


def test_a_million_non_objects_get_a_short_422_naming_the_field(survey_client):
    assert len(HUGE_METADATA) > 4_500_000
    response = post_json(survey_client, "/survey/clustering", HUGE_METADATA)
    assert response.status_code == 422
    assert len(response.content) < 20_000, "the answer does not grow with the request"
    body = response.json()
    assert body["errors"] and all(e["field"].startswith("body.metadata") for e in body["errors"])
    assert "at most 500" in body["detail"]


def test_an_error_answer_lists_50_problems_and_counts_them_all(survey_client):
    body = {"data": ["not a row"] * 120, "metadata": [{"Question Name": "q"}], "factor": "f", "max_k": 2}
    response = survey_client.post("/survey/clustering", json=body)
    assert response.status_code == 422
    answer = response.json()
    assert len(answer["errors"]) == MAX_LISTED_ERRORS
    assert answer["error_count"] == 120
    assert [e["field"] for e in answer["errors"][:2]] == ["body.data.rows.0", "body.data.rows.1"]
    assert "70 more problems" in answer["detail"]


def test_a_large_valid_body_takes_the_off_loop_path_and_answers_as_inline(survey_client):
    rows = [{"q": i % 3, "lat": -15.0 - i / 1000, "lon": 35.0, "note": "not clustered"} for i in range(1500)]
    metadata = [
        {"Question Name": "q", "Type": "categorical", "Factor": "F"},
        {"Question Name": "lat", "Type": "GPS latitude", "Factor": None},
        {"Question Name": "lon", "Type": "GPS longitude", "Factor": None},
    ]
    payload = {"data": rows, "metadata": metadata, "factor": "F", "max_k": 3}
    content = json.dumps(payload).encode()
    assert len(content) > INLINE_BODY_BYTES
    large = post_json(survey_client, "/survey/clustering", content)
    assert large.status_code == 200, large.text
    small = survey_client.post("/survey/clustering", json={**payload, "data": rows[:30]})
    labels = large.json()["cluster_label"]
    assert labels[:30] == small.json()["cluster_label"]
    assert len(labels) == 1500 and all(labels[i] == labels[i % 3] for i in range(1500)), (
        "same answer, same cluster"
    )


def test_a_large_body_that_is_not_json_is_a_422_with_its_position(survey_client):
    content = b'{"data": [' + b'{"q": 1}, ' * 10_000 + b"oops]}"
    response = post_json(survey_client, "/survey/clustering", content)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"
    assert "JSON" in response.json()["detail"]


def test_a_large_body_nested_100000_deep_is_a_422(survey_client):
    content = b"[" * 100_000 + b"]" * 100_000
    response = post_json(survey_client, "/survey/clustering", content)
    assert response.status_code == 422
    assert "nested too deeply" in response.json()["detail"]


def test_every_model_route_with_a_json_body_validates_large_bodies_off_the_loop(client):
    routes = [r for package in client.app.state.discovery.mounted for r in package.router.routes]
    json_body_routes = [
        r
        for r in routes
        if isinstance(r, APIRoute)
        and r.body_field is not None
        and "POST" in r.methods
        and not r.path.endswith("/batch")
    ]
    assert json_body_routes
    plain = [r.path for r in json_body_routes if not isinstance(r, OffLoopBodyRoute)]
    assert plain == [], "create the model's APIRouter with route_class=OffLoopBodyRoute"


LARGE_VALID = json.dumps(
    {
        "data": {f"q{j}": [1.5, 2.5, None, 4.0] * 500 for j in range(450)},
        "metadata": [{"Question Name": f"q{j}", "Type": "continuous", "Factor": "F"} for j in range(450)],
        "factor": "not a factor",
        "max_k": 2,
    }
).encode()
"""A 6 MB survey of 2,000 rows x 450 questions that validates, then fails in the model (unknown factor)."""


def test_liveness_answers_while_huge_bodies_are_processed():
    with live_server({"MODEL_SERVICE": "SurveyCluster"}) as url:
        for content, fragment in [(HUGE_METADATA, b"at most 500"), (LARGE_VALID, b"unknown factor")]:
            outcome = {}

            def send(content=content, outcome=outcome):
                outcome["response"] = httpx.post(
                    f"{url}/survey/clustering",
                    content=content,
                    timeout=120,
                    headers={"content-type": "application/json"},
                )

            sender = threading.Thread(target=send)
            sender.start()
            waits = []
            while sender.is_alive() or not waits:
                started = time.monotonic()
                assert httpx.get(f"{url}/health/live", timeout=60).status_code == 200
                waits.append(time.monotonic() - started)
                time.sleep(0.02)
            sender.join()
            assert outcome["response"].status_code == 422
            assert fragment in outcome["response"].content and len(outcome["response"].content) < 20_000
            # Parsing and validating run on a thread, but each C-level step (json.loads, pydantic) holds
            # the GIL for its duration: about 0.1 s per step for these bodies on an idle core, more on a
            # loaded machine. Before they ran on the event loop, liveness stalled for over 60 s.
            assert max(waits) < 5.0, f"liveness stalled for {max(waits):.1f} s behind a large body"


def unbounded_collections(schema, components: dict, where: str, seen: set) -> list[str]:
    """Paths of arrays without maxItems and free-form objects without maxProperties in a JSON schema."""
    if isinstance(schema, list):
        return [
            p for i, item in enumerate(schema) for p in unbounded_collections(item, components, where, seen)
        ]
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        return unbounded_collections(components[name], components, f"{where}<{name}>", seen | {name})
    found = []
    if schema.get("type") == "array" and "maxItems" not in schema:
        found.append(where)
    if (
        schema.get("type") == "object"
        and schema.get("additionalProperties", False) is not False
        and "maxProperties" not in schema
    ):
        found.append(where)
    for key, value in schema.items():
        if key in ("examples", "example", "default"):
            continue
        found += unbounded_collections(value, components, f"{where}.{key}", seen)
    return found


def test_every_list_and_map_a_caller_sends_has_a_maximum_length(client):
    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    unbounded = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content:
                unbounded += unbounded_collections(content["schema"], components, f"{method} {path}", set())
    assert unbounded == []
