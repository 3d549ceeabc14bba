"""Swagger "Try it out" as a newcomer meets it: every operation's body and parameters, built from
the OpenAPI schema the way Swagger UI fills them, succeed; the docs pages load no remote asset."""

import re

import pytest

SKIPPED_PATHS = ("/jobs/", "/keys/")
"""Operations on a job or an API key need the id of one that exists: no schema example can hold one."""


def resolve(schema: dict, components: dict) -> dict:
    while "$ref" in schema:
        schema = {
            **components[schema["$ref"].rsplit("/", 1)[-1]],
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    return schema


def swagger_sample(schema: dict, components: dict):
    """The value Swagger UI fills in: the schema's example, else its default, else the first enum
    member, else (objects) every property filled the same way, else a placeholder of its type
    ("string", 0, true) — for optional fields too, and from the first option of an anyOf/oneOf."""
    schema = resolve(schema, components)
    if schema.get("examples"):
        return schema["examples"][0]
    if "example" in schema:
        return schema["example"]
    if schema.get("default") is not None:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combined in ("anyOf", "oneOf", "allOf"):
        if schema.get(combined):
            return swagger_sample(schema[combined][0], components)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if kind == "object":
        return {name: swagger_sample(prop, components) for name, prop in schema.get("properties", {}).items()}
    if kind == "array":
        return [swagger_sample(schema.get("items", {}), components)]
    return {"string": "string", "integer": 0, "number": 0, "boolean": True, "null": None}[kind]


def parameter_sample(parameter: dict, components: dict):
    if "example" in parameter:
        return parameter["example"]
    if parameter.get("examples"):
        return next(iter(parameter["examples"].values()))["value"]
    return swagger_sample(parameter.get("schema", {}), components)


def try_it_out_requests(schema: dict) -> list[tuple[str, str, dict, object]]:
    """(method, url, query, JSON body) of every operation that takes a JSON body or parameters."""
    components = schema.get("components", {}).get("schemas", {})
    requests = []
    for path, operations in schema["paths"].items():
        if path.startswith(SKIPPED_PATHS):
            continue
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            parameters = operation.get("parameters", [])
            if body is None and not any(p["required"] for p in parameters):
                continue
            url, query = path, {}
            for parameter in parameters:
                value = parameter_sample(parameter, components)
                if parameter["in"] == "path":
                    url = url.replace("{" + parameter["name"] + "}", str(value))
                elif parameter["in"] == "query" and (parameter["required"] or value is not None):
                    query[parameter["name"]] = value
            sample = swagger_sample(body["schema"], components) if body else None
            requests.append((method.upper(), url, query, sample))
    return requests


@pytest.fixture(scope="module")
def operations(client):
    return try_it_out_requests(client.get("/openapi.json").json())


def test_every_try_it_out_request_succeeds(client, operations):
    assert len([op for op in operations if op[3] is not None]) >= 14
    failed = []
    for method, url, query, body in operations:
        response = client.request(method, url, params=query, json=body)
        if not response.is_success:
            failed.append(f"{method} {url} {query} {body}: {response.status_code} {response.text[:300]}")
    assert not failed, "\n".join(failed)


def test_v2_infer_has_a_working_example(operations):
    infer = [op for op in operations if op[1] == "/v2/models/sentiment/infer"]
    assert infer and infer[0][3]["inputs"][0]["datatype"] == "BYTES"


def test_artifact_version_is_not_filled_with_a_placeholder(operations):
    predict = next(op for op in operations if op[1] == "/sentiment/predict")
    assert "version" not in predict[3] and predict[3]["instances"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets(client, page):
    html = client.get(page).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith("/static/docs/") for url in assets), assets
    assert not re.search(r"https?://", html)
    for url in assets:
        response = client.get(url)
        assert response.status_code == 200 and len(response.content) > 500, url
