"""GET /metrics: Prometheus text, requests by route template and status, model latency by `model`,
job figures; and correct totals across several uvicorn workers (multiprocess mode)."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from helpers.servers import live_server


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels) -> float:
    return sum(
        s.value
        for s in samples(text)
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_requests_are_counted_by_route_template_and_status(client):
    before = client.get("/metrics").text
    for year in ("2010", "2011"):
        assert (
            client.post(
                "/sampleapi/predict", json={"indicator": "wdi-EG.ELC.ACCS.ZS", "year": year}
            ).status_code
            == 200
        )
    assert client.post("/sampleapi/predict", json={"indicator": "nope"}).status_code == 422
    assert client.get("/jobs/0123456789abcdef0123456789abcdef").status_code == 404
    assert client.get("/no/such/path").status_code == 404
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = response.text

    def grew(**labels) -> float:
        return value(after, "sids_http_requests_total", **labels) - value(
            before, "sids_http_requests_total", **labels
        )

    assert grew(route="/sampleapi/predict", method="POST", status="200") == 2
    assert grew(route="/sampleapi/predict", method="POST", status="422") == 1
    assert grew(route="/jobs/{job_id}", method="GET", status="404") == 1
    assert grew(route="<unmatched>", method="GET", status="404") == 1
    assert not [
        s for s in samples(after) if "0123456789abcdef" in str(s.labels) or "/no/such" in str(s.labels)
    ]
    latency = value(after, "sids_model_request_duration_seconds_count", model="sampleapi") - value(
        before, "sids_model_request_duration_seconds_count", model="sampleapi"
    )
    assert latency == 3
    assert value(after, "sids_model_request_duration_seconds_count", model="CountryCorrelation") >= 0
    for name in (
        "sids_jobs",
        "sids_job_queue_depth",
        "sids_jobs_completed_total",
        "sids_compute_in_flight",
        "sids_cache_requests_total",
    ):
        assert any(s.name == name for s in samples(after)), name


def test_totals_are_right_with_two_uvicorn_workers():
    """Every request opens a new connection, so both workers serve some; every scrape (answered by
    either worker) must still show the totals of both."""
    requests = 40
    with live_server(env={"MODEL_SERVICE": "sampleapi"}, workers=2) as url:
        for i in range(requests):
            body = {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": str(1995 + i % 20)}
            assert httpx.post(f"{url}/sampleapi/predict", json=body, timeout=30).status_code == 200
        for _ in range(6):
            text = httpx.get(f"{url}/metrics", timeout=30).text
            assert (
                value(text, "sids_http_requests_total", route="/sampleapi/predict", status="200") == requests
            )
            assert value(text, "sids_model_request_duration_seconds_count", model="sampleapi") == requests
            assert value(text, "sids_cache_requests_total") == requests
