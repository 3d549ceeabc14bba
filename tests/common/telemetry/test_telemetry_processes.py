"""Tracing and logs across processes: a real uvicorn API and a real queue worker on Redis export
OTLP/HTTP to a receiver the test runs; one trace shows API → queue → worker, and both processes log
JSON lines that carry the same request id and trace id."""

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from common.settings import REPO_ROOT
from helpers.servers import live_server
from helpers.workers import stop_worker
from models.twolvlImp.schemas import SIMPLE_EXAMPLE

SIMPLE = {**SIMPLE_EXAMPLE, "target_year": "2005", "interval": "bootstrap"}
WORKER_STAGES = {
    "queue.wait",
    "job.execute",
    "prepare_data",
    "select_predictors",
    "train",
    "intervals",
    "serialise",
}
LOG_FIELDS = {"time", "level", "message", "request_id", "trace_id", "model", "route", "status", "duration_ms"}


class Receiver:
    """An OTLP/HTTP trace receiver: every span posted to /v1/traces, with its service name."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            receiver.spans.append(
                                {
                                    "service": attributes.get("service.name"),
                                    "name": span.name,
                                    "trace_id": span.trace_id.hex(),
                                    "span_id": span.span_id.hex(),
                                    "parent_id": span.parent_span_id.hex() or None,
                                    "start": span.start_time_unix_nano,
                                    "end": span.end_time_unix_nano,
                                    "attributes": {a.key: a.value for a in span.attributes},
                                }
                            )
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "Receiver":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def trace(self, trace_id: str) -> list[dict]:
        return [s for s in self.spans if s["trace_id"] == trace_id]


@contextlib.contextmanager
def worker(env: dict, output):
    process = subprocess.Popen(
        [sys.executable, "-m", "api_app.worker"],
        cwd=REPO_ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        stop_worker(process)


def json_lines(path) -> list[dict]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON log line: {line!r}") from None
    return parsed


def described(spans: list[dict]) -> str:
    """service:name:trace<parent of each span, to read a broken tree in a failure message."""
    return "; ".join(
        f"{s['service']}:{s['name']}:{s['trace_id'][:6]}:{s['span_id'][:4]}<{(s['parent_id'] or '')[:4]}"
        for s in spans
    )


def wait_for(predicate, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (found := predicate()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_one_trace_from_the_api_through_the_redis_queue_into_the_worker(redis_url, redis_conn, tmp_path):
    api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
    with Receiver() as receiver, api_log.open("w") as api_out, worker_log.open("w") as worker_out:
        env = {
            **os.environ,
            "JOB_BACKEND": "redis",
            "REDIS_URL": redis_url,
            "MODEL_SERVICE": "twolvlImp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": str(REPO_ROOT),
        }
        with worker(env, worker_out), live_server(env=env, output=api_out) as url:
            response = httpx.post(
                f"{url}/twolvlImp/predict",
                json=SIMPLE,
                timeout=120,
                headers={"X-Request-ID": "across-processes-1"},
            )
            assert response.status_code == 200, response.text
            assert response.headers["x-request-id"] == "across-processes-1"
            assert response.json()["indicatorJson"]["rmse"]["2005"] > 0

            def whole_trace():
                roots = [s for s in receiver.spans if s["name"] == "POST /twolvlImp/predict"]
                spans = receiver.trace(roots[0]["trace_id"]) if roots else []
                return spans if {s["name"] for s in spans} >= WORKER_STAGES else None

            spans = wait_for(whole_trace)
            assert spans, f"incomplete trace; received: {described(receiver.spans)}"
            httpx.get(f"{url}/health/ready", timeout=10)
            httpx.get(f"{url}/metrics", timeout=10)
            time.sleep(0.5)
    named = {s["name"]: s for s in spans if s["service"] == "sids-api"}
    named.update({s["name"]: s for s in spans if s["service"] == "sids-worker"})
    root, enqueue = named["POST /twolvlImp/predict"], named["job.enqueue"]
    assert root["parent_id"] is None and root["service"] == "sids-api"
    assert root["attributes"]["sids.request_id"].string_value == "across-processes-1"
    assert enqueue["service"] == "sids-api" and enqueue["parent_id"] == root["span_id"]
    for name in ("queue.wait", "job.execute"):
        assert named[name]["service"] == "sids-worker" and named[name]["parent_id"] == enqueue["span_id"], (
            name
        )
    assert named["queue.wait"]["end"] <= named["job.execute"]["start"] + 5_000_000, "waited, then ran"
    by_id = {s["span_id"]: s for s in spans}
    for name in WORKER_STAGES - {"queue.wait", "job.execute"}:
        span, chain = named[name], []
        while span["parent_id"] in by_id:
            span = by_id[span["parent_id"]]
            chain.append(span["name"])
        assert named[name]["service"] == "sids-worker" and "job.execute" in chain, (name, chain)
    assert named["prepare_data"]["attributes"]["sids.cache"].string_value == "miss"
    assert not [s for s in receiver.spans if "health" in s["name"] or "metrics" in s["name"]]

    trace_id = root["trace_id"]
    api_lines, worker_lines = json_lines(api_log), json_lines(worker_log)
    api_line = [
        line
        for line in api_lines
        if line.get("request_id") == "across-processes-1" and line.get("route") == "/twolvlImp/predict"
    ]
    worker_line = [
        line
        for line in worker_lines
        if line.get("request_id") == "across-processes-1" and "duration_ms" in line
    ]
    assert len(api_line) == 1 and len(worker_line) == 1, (api_line, worker_line)
    for line in (api_line[0], worker_line[0]):
        assert set(line) >= LOG_FIELDS, LOG_FIELDS - set(line)
        assert line["trace_id"] == trace_id and line["model"] == "twolvlImp" and line["level"] == "INFO"
        assert line["duration_ms"] > 0
    assert api_line[0]["status"] == 200 and worker_line[0]["status"] == "succeeded"
    assert api_line[0]["duration_ms"] >= worker_line[0]["duration_ms"], "the request waited for the job"


def test_one_trace_from_the_api_into_its_compute_processes(tmp_path):
    """Embedded mode: the model runs in a persistent compute process forked by the API; that process
    exports its spans itself, under the request's span."""
    with Receiver() as receiver, (tmp_path / "api.log").open("w") as api_out:
        env = {
            "MODEL_SERVICE": "twolvlImp",
            "COMPUTE_ISOLATION": "process",
            "COMPUTE_WORKERS": "1",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "LOG_FORMAT": "json",
        }
        with live_server(env=env, output=api_out) as url:
            response = httpx.post(
                f"{url}/twolvlImp/predict",
                json={**SIMPLE, "target_year": "2006"},
                timeout=120,
                headers={"X-Request-ID": "into-compute-1"},
            )
            assert response.status_code == 200, response.text

            def whole_trace():
                roots = [s for s in receiver.spans if s["name"] == "POST /twolvlImp/predict"]
                spans = receiver.trace(roots[0]["trace_id"]) if roots else []
                wanted = {"compute.queue_wait"} | WORKER_STAGES - {"queue.wait", "job.execute"}
                return spans if wanted <= {s["name"] for s in spans} else None

            spans = wait_for(whole_trace)
            assert spans, f"incomplete trace; received: {described(receiver.spans)}"
    by_id = {s["span_id"]: s for s in spans}
    root = next(s for s in spans if s["parent_id"] is None)
    assert root["name"] == "POST /twolvlImp/predict"
    assert root["attributes"]["sids.request_id"].string_value == "into-compute-1"
    wait = next(s for s in spans if s["name"] == "compute.queue_wait")
    assert wait["parent_id"] == root["span_id"]
    api_pid, compute_pid = (
        root["attributes"]["process.pid"].int_value,
        wait["attributes"]["process.pid"].int_value,
    )
    assert api_pid and compute_pid and api_pid != compute_pid, "the model ran in another process"
    for span in spans:
        if span["name"] in ("prepare_data", "select_predictors", "train", "intervals"):
            parent = span
            while parent["parent_id"] in by_id:
                parent = by_id[parent["parent_id"]]
            assert parent is root and span["start"] >= wait["end"] - 5_000_000, span["name"]
