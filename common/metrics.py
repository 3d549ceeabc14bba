"""Prometheus metrics of the service, shared by the app and its models.

Importing this module creates the metrics and nothing else. With several uvicorn workers they are
aggregated across processes (multiprocess mode): the entry points choose that with
`common.metrics_folder.prepare_multiprocess` before this module is first imported.
"""

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

HTTP_REQUESTS = Counter(
    "sids_http_requests_total",
    "HTTP requests by route template, method, status and model (empty for platform routes).",
    ["route", "method", "status", "model"],
)
MODEL_LATENCY = Histogram(
    "sids_model_request_duration_seconds",
    "Latency of model endpoints by kind: listing (GET), predict "
    "(POST answered in the request), job_accepted (POST answered 202 with a job).",
    ["model", "route", "kind"],
    buckets=LATENCY_BUCKETS,
)
COMPUTE_IN_FLIGHT = Gauge(
    "sids_compute_in_flight",
    "Computations running or waiting in this process's compute pool.",
    multiprocess_mode="livesum",
)
COMPUTE_BUSY = Gauge(
    "sids_compute_busy",
    "Computations running in this process's compute processes, by lane (general; scoring: the "
    "processes reserved for quick artifact scoring, COMPUTE_SCORING_WORKERS).",
    ["lane"],
    multiprocess_mode="livesum",
)
COMPUTE_PROCESSES_REPLACED = Counter(
    "sids_compute_processes_replaced_total",
    "Compute processes killed and replaced, by reason (timeout, cancelled, crashed) and lane "
    "(general, scoring).",
    ["reason", "lane"],
)
REDIS_UP = Gauge(
    "sids_redis_up",
    "1 while this process reaches Redis (JOB_BACKEND=redis), 0 while it does not.",
    multiprocess_mode="liveall",
)
ARTIFACT_PREDICTIONS = Counter(
    "sids_artifact_predictions_total", "Instances scored by trained-artifact models.", ["model", "version"]
)
ARTIFACT_LATENCY = Histogram(
    "sids_artifact_prediction_duration_seconds",
    "Latency of one trained-artifact prediction call.",
    ["model", "version"],
    buckets=LATENCY_BUCKETS,
)
CACHE_REQUESTS = Counter(
    "sids_cache_requests_total", "Result-cache look-ups by outcome (hit, miss).", ["result"]
)
JOB_SUBMISSIONS = Counter(
    "sids_job_submissions_total",
    "Model computations submitted as jobs, by model and mode "
    "(async: Prefer respond-async/wait; sync: queued and awaited in redis mode).",
    ["model", "mode"],
)


def request_kind(method: str, status: int) -> str:
    """The SLO class of a model request (docs/operations.md)."""
    if status == 202:
        return "job_accepted"
    return "listing" if method == "GET" else "predict"


def model_label(prefixes: dict[str, str], path: str) -> str | None:
    """The model whose router prefix starts `path` (a route template), or None for platform routes."""
    for prefix, model in prefixes.items():
        if path == prefix or path.startswith(prefix + "/"):
            return model
    return None
