"""The Azure Functions entry gives the same answers as the ASGI app, in process."""

import asyncio
import json

import azure.functions as func
import pytest
from sqlalchemy import select

import main
from api_app.database import audit_events

AUDITED_REQUEST = "azure-function-audit-check"


def audit_rows(request_id: str) -> list[dict]:
    with main.app.state.database.connect() as connection:
        rows = connection.execute(select(audit_events).where(audit_events.c.request_id == request_id))
        return [dict(row._mapping) for row in rows]


def call(method: str, url: str, body: bytes = b"", headers: dict | None = None) -> func.HttpResponse:
    return func.HttpRequest(method, url, headers=headers or {}, body=body)


@pytest.fixture(scope="module")
def function_responses():
    """Drive the function entry once, in one event loop, as the Functions host would."""
    requests = {
        "params": call("GET", "http://localhost/params"),
        "ready": call("GET", "http://localhost/health/ready"),
        "indicators": call("POST", "http://localhost/sampleapi/indicators?dataset=wdi"),
        "predict": call(
            "POST",
            "http://localhost/sampleapi/predict",
            json.dumps({"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2012"}).encode(),
            {"content-type": "application/json"},
        ),
        "put": call("PUT", "http://localhost/params"),
        "ui": call("GET", "http://localhost/ui"),
        "ui_module": call("GET", "http://localhost/ui/static/app.js"),
        "bad": call(
            "POST", "http://localhost/sampleapi/predict", b"{}", {"content-type": "application/json"}
        ),
    }

    async def drive():
        answers = {name: await main.main(request) for name, request in requests.items()}
        # From here on only the invocation itself writes audit records (as in a frozen Functions host).
        await asyncio.to_thread(main.app.state.audit.stop)
        answers["audited"] = await main.main(
            call(
                "POST",
                "http://localhost/sampleapi/predict",
                json.dumps({"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2013"}).encode(),
                {"content-type": "application/json", "x-request-id": AUDITED_REQUEST},
            )
        )
        answers["audit_rows"] = audit_rows(AUDITED_REQUEST)
        await main._middleware.notify_shutdown()
        return answers

    return asyncio.run(drive())


def test_function_json_routes_everything_to_the_app(repo_root):
    config = json.loads((repo_root / "main" / "function.json").read_text())
    trigger = config["bindings"][0]
    assert trigger["type"] == "httpTrigger" and trigger["route"] == "{*route}"
    assert {"get", "post", "options"} <= set(trigger["methods"])
    host = json.loads((repo_root / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == ""


def test_function_answers_like_the_asgi_app(function_responses, client):
    for name, path in (("params", "/params"), ("ready", "/health/ready")):
        response = function_responses[name]
        assert response.status_code == 200
        assert json.loads(response.get_body()) == client.get(path).json()
    indicators = json.loads(function_responses["indicators"].get_body())
    assert indicators == client.post("/sampleapi/indicators?dataset=wdi").json()
    predicted = json.loads(function_responses["predict"].get_body())
    assert (
        predicted
        == client.post("/sampleapi/predict", json={"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2012"}).json()
    )
    assert predicted["sids"]["countries"] > 0


def test_function_keeps_the_error_contract(function_responses):
    assert function_responses["put"].status_code == 405
    bad = function_responses["bad"]
    assert bad.status_code == 422
    assert json.loads(bad.get_body())["errors"][0]["field"] == "body.indicator"


def test_function_writes_its_audit_records_before_it_answers(function_responses):
    assert function_responses["audited"].status_code == 200
    rows = function_responses["audit_rows"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["event"], row["route"], row["status"], row["model"]) == (
        "model_call",
        "/sampleapi/predict",
        200,
        "sampleapi",
    )
    assert row["body_hash"] and len(row["body_hash"]) == 64 and row["body"] is None


def test_function_serves_the_playground_page_and_its_modules(function_responses):
    page, module = function_responses["ui"], function_responses["ui_module"]
    assert page.status_code == 200 and page.mimetype.startswith("text/html")
    assert b'src="ui/static/app.js"' in page.get_body()
    assert module.status_code == 200 and "javascript" in module.mimetype
    assert b"loadCatalog" in module.get_body()
