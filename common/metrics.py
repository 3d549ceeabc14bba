"""Prometheus metrics of the service, shared by the app and its models.

With several uvicorn workers set PROMETHEUS_MULTIPROC_DIR to an empty writable folder; every worker
then writes its samples there and /metrics aggregates them (prometheus_client multiprocess mode).
"""

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

HTTP_REQUESTS = Counter(
    "sids_http_requests_total", "HTTP requests by route template, method and status.",
    ["route", "method", "status"])
MODEL_LATENCY = Histogram(
    "sids_model_request_duration_seconds", "Latency of model endpoints.",
    ["model", "route"], buckets=LATENCY_BUCKETS)
COMPUTE_IN_FLIGHT = Gauge(
    "sids_compute_in_flight", "Computations running or waiting in this process's compute pool.",
    multiprocess_mode="livesum")
ARTIFACT_PREDICTIONS = Counter(
    "sids_artifact_predictions_total", "Instances scored by trained-artifact models.",
    ["model", "version"])
ARTIFACT_LATENCY = Histogram(
    "sids_artifact_prediction_duration_seconds", "Latency of one trained-artifact prediction call.",
    ["model", "version"], buckets=LATENCY_BUCKETS)
