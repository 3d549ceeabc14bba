"""Tracing in the API process: the span tree of a predict request, recorded by an in-memory exporter;
untraced health and metrics paths; no tracing at all without an exporter or endpoint."""

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api_app.factory import create_app
from common import telemetry
from helpers.app import make_settings, wait_ready
from models.twolvlImp.schemas import SIMPLE_EXAMPLE as SIMPLE

STAGES = ("compute.queue_wait", "prepare_data", "select_predictors", "train", "intervals", "serialise")


def traced_client(exporter: InMemorySpanExporter, **overrides) -> TestClient:
    """An app whose model work runs on compute threads of this process, where the exporter sees it
    (compute processes export their own spans: tests/common/telemetry/test_telemetry_processes.py)."""
    app = create_app(
        make_settings(model_service=("twolvlImp",), compute_isolation="thread", **overrides),
        span_exporter=exporter,
    )
    return TestClient(app)


def by_name(spans) -> dict:
    found = {}
    for span in spans:
        found.setdefault(span.name, []).append(span)
    return found


def ancestors(span, spans_by_id: dict) -> list[str]:
    names = []
    while span.parent is not None and span.parent.span_id in spans_by_id:
        span = spans_by_id[span.parent.span_id]
        names.append(span.name)
    return names


def test_predict_request_is_one_trace_with_a_span_per_costly_stage():
    exporter = InMemorySpanExporter()
    with traced_client(exporter) as client:
        wait_ready(client)
        telemetry.flush()
        exporter.clear()
        response = client.post(
            "/twolvlImp/predict",
            json={**SIMPLE, "target_year": "2003"},
            headers={"X-Request-ID": "trace-me-1"},
        )
        assert response.status_code == 200 and response.headers["x-request-id"] == "trace-me-1"
        telemetry.flush()
        spans = exporter.get_finished_spans()
    names = by_name(spans)
    server = [s for s in spans if s.name == "POST /twolvlImp/predict" and s.parent is None]
    assert len(server) == 1, sorted(names)
    root = server[0]
    assert root.attributes["sids.request_id"] == "trace-me-1"
    assert root.attributes["sids.model"] == "twolvlImp" and root.attributes["sids.result_cache"] == "miss"
    assert 200 in (root.attributes.get("http.response.status_code"), root.attributes.get("http.status_code"))
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}, "one trace"
    spans_by_id = {s.context.span_id: s for s in spans}
    for stage in STAGES:
        assert stage in names, f"no {stage} span; spans: {sorted(names)}"
        for span in names[stage]:
            assert ancestors(span, spans_by_id)[-1] == root.name, f"{stage} is not under the request span"
            assert root.start_time <= span.start_time <= span.end_time <= root.end_time
    assert names["prepare_data"][0].attributes["sids.cache"] == "miss"
    assert names["train"][0].attributes["sids.model"] == "rfr"
    assert names["intervals"][0].attributes["sids.interval"] == "quantile"
    train, intervals = names["train"][0], names["intervals"][0]
    assert intervals.parent.span_id == train.context.span_id, "intervals are computed while training"
    wait = names["compute.queue_wait"][0]
    work = [s for s in spans if s.parent is not None and s.parent.span_id == root.context.span_id]
    assert wait.end_time <= min(s.start_time for s in names["prepare_data"]), "the wait comes before the work"
    assert {s.name for s in work} >= {"compute.queue_wait", "prepare_data"}


def test_a_repeated_request_shows_the_cache_and_health_and_metrics_are_not_traced():
    exporter = InMemorySpanExporter()
    body = {**SIMPLE, "target_year": "2004"}
    with traced_client(exporter) as client:
        wait_ready(client)
        assert client.post("/twolvlImp/predict", json=body).status_code == 200
        telemetry.flush()
        exporter.clear()
        assert client.post("/twolvlImp/predict", json=body).status_code == 200
        assert client.post("/twolvlImp/predict", json={**body, "estimators": 11}).status_code == 200
        for path in ("/health/live", "/health/ready", "/metrics"):
            assert client.get(path).status_code == 200
        telemetry.flush()
        spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.parent is None]
    assert [s.name for s in roots] == ["POST /twolvlImp/predict"] * 2, [s.name for s in roots]
    cached, recomputed = roots
    assert cached.attributes["sids.result_cache"] == "hit"
    assert not [
        s
        for s in spans
        if s.context.trace_id == cached.context.trace_id and s is not cached and s.name in STAGES[1:5]
    ], "a cached answer trains nothing"
    prepared = [
        s for s in spans if s.name == "prepare_data" and s.context.trace_id == recomputed.context.trace_id
    ]
    assert [s.attributes["sids.cache"] for s in prepared] == ["memory"], "the imputed matrices were reused"


def test_without_an_endpoint_nothing_is_traced_or_installed():
    app = create_app(make_settings(model_service=("sampleapi",)))
    with TestClient(app) as client:
        wait_ready(client)
        assert telemetry.installed() is None
        assert (
            client.post(
                "/sampleapi/predict", json={"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2012"}
            ).status_code
            == 200
        )
    assert not any(
        "opentelemetry" in type(m.cls).__module__ + getattr(m.cls, "__module__", "")
        for m in app.user_middleware
    )
