"""What a queue worker runs for one job: rebuild the request, take the process's loaded data, call
the model function with a progress callback that writes to the job, store the result.

Runs in the work-horse process rq forks for each job; the data was loaded once by the worker
process before it forked (`preload`), so every job shares it.
"""

import json
import logging
import time
from typing import Any

from rq import get_current_job
from rq.timeouts import JobTimeoutException

from common.cache import RedisCache
from common.errors import ComputeTimeout, Unavailable
from common.jobs.types import Cancelled, JobProgress, JobSpec, error_payload, import_dotted, invoke, to_json
from common.settings import Settings, get_settings
from common.telemetry import flush, resumed, set_attributes, span

log = logging.getLogger(__name__)

CANCEL_KEY = "sids:job-cancelled:"
COMPLETED_KEY = "sids:jobs:completed"
PROGRESS_INTERVAL = 0.25
"""Seconds between two progress writes to Redis (stage changes and completion are always written)."""

_loaded: dict[str, Any] = {}
"""Data loaded by this worker process (shared with its forked work horses), by LOADERS key."""


def preload(names: list[str], settings: Settings) -> None:
    from shared_dataloader import LOADERS

    for name in names:
        if name not in _loaded:
            _loaded[name] = LOADERS[name](settings)
            log.info("data %s loaded", name)


def data_for(name: str | None) -> Any:
    if name is None:
        return None
    if name not in _loaded:
        preload([name], get_settings())
    return _loaded[name]


class RedisProgress:
    """Progress callback writing `{stage, fraction, done?, total?}` into the job's meta, at most every 0.25 s."""

    def __init__(self, job: Any) -> None:
        self.job = job
        self._stage: str | None = None
        self._written = 0.0

    def __call__(
        self, stage: str, fraction: float, done: int | None = None, total: int | None = None
    ) -> None:
        progress = JobProgress.of(stage, fraction, done, total)
        now = time.monotonic()
        if stage == self._stage and progress.fraction < 1 and now - self._written < PROGRESS_INTERVAL:
            return
        if self.job.connection.exists(CANCEL_KEY + self.job.id):
            raise Cancelled()
        self._stage, self._written = stage, now
        self.job.meta["progress"] = progress.model_dump()
        self.job.save_meta()


def _failure(exc: BaseException, job_id: str) -> dict[str, Any]:
    if isinstance(exc, JobTimeoutException):
        exc = ComputeTimeout(
            "The computation took longer than its time limit and was stopped; "
            "try a lighter request (fewer estimators or predictors)."
        )
    return error_payload(exc, job_id)


def execute(spec_data: dict[str, Any]) -> dict[str, Any]:
    """The rq job function: `{ok: true, result}` or `{ok: false, error}`.

    Errors of the computation are returned, not raised, so rq retries a job only when its worker
    died (abandoned or killed work horse), never for a deterministic failure. The job continues the
    trace of the request that queued it (its wait in the queue is a span) and logs one line when done.
    """
    job = get_current_job()
    if job is None:
        raise RuntimeError("execute runs as an rq job, in a work horse")
    spec = JobSpec.from_dict(spec_data)
    started = time.perf_counter()
    try:
        with (
            resumed(spec.trace, "queue.wait"),
            span("job.execute", job_id=job.id, model=spec.model, route=spec.endpoint),
        ):
            outcome = _execute(job, spec)
            status = "succeeded" if outcome["ok"] else outcome["error"]["code"]
            set_attributes(outcome=status)
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info(
                "job %s %s %s in %.0f ms",
                job.id,
                spec.endpoint,
                status,
                elapsed_ms,
                extra={
                    "job_id": job.id,
                    "model": spec.model,
                    "route": spec.endpoint,
                    "status": status,
                    "duration_ms": round(elapsed_ms, 1),
                },
            )
            return outcome
    finally:
        flush()


def _execute(job: Any, spec: JobSpec) -> dict[str, Any]:
    connection = job.connection
    if connection.exists(CANCEL_KEY + job.id):
        return {"ok": False, "error": error_payload(Cancelled())}
    try:
        body = import_dotted(spec.request_class).model_validate(spec.body)
        data = data_for(spec.data)
        version = getattr(data, "fingerprint", None)
        if spec.fingerprint and version and version != spec.fingerprint:
            raise Unavailable(
                f"This worker has another version of the {spec.data} data than the API "
                "(a deployment is rolling out); retry in a minute."
            )
        payload = to_json(invoke(import_dotted(spec.func), body, data, RedisProgress(job)))
    except Exception as exc:
        failure = _failure(exc, job.id)
        connection.hincrby(COMPLETED_KEY, "cancelled" if failure["code"] == "cancelled" else "failed")
        return {"ok": False, "error": failure}
    if spec.cache_key:
        RedisCache(connection, get_settings().cache_ttl_seconds).put(spec.cache_key, payload)
    connection.hincrby(COMPLETED_KEY, "succeeded")
    return {"ok": True, "result": json.loads(payload)}
