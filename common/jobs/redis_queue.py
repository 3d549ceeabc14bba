"""Scale mode: jobs in an rq queue on Redis, run by `python -m api_app.worker` processes.

The queue is the Redis list `rq:queue:<JOB_QUEUE>`; KEDA's `redis` scaler scales workers on its
length. A job whose worker dies is re-run: the dead worker's heartbeat lapses after
WORKER_RECOVERY_SECONDS, rq's registry cleanup finds the abandoned job and, as it was enqueued with
`Retry(max=JOB_MAX_RETRIES)`, puts it back on the queue.
"""

import asyncio
import contextlib
import math
import os
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from redis.client import Pipeline
from rq import Queue, Retry, Worker, worker_registration
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.utils import utcparse

from common import heartbeat
from common.cache import CachedResponse, FallbackCache, etag_of
from common.errors import ComputeTimeout, Conflict, Unavailable
from common.jobs.task import CANCEL_KEY, COMPLETED_KEY, execute
from common.jobs.types import (
    DONE,
    TERMINAL,
    Cancelled,
    JobFailed,
    JobProgress,
    JobSpec,
    JobStats,
    JobView,
    Work,
    error_payload,
    to_json,
)
from common.metrics import JOB_SUBMISSIONS
from common.redis_link import RedisLink, connect
from common.telemetry import carried, carrier, span

__all__ = ["RecoveringWorker", "RedisExecutor", "connect"]

JOB_ID_LENGTH = 32
INFLIGHT_KEY = "sids:inflight:"
_QUEUED = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED}
_CANCELLED = {JobStatus.STOPPED, JobStatus.CANCELED}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class RedisExecutor:
    """Jobs in the rq queue (an `Executor`). Every Redis call is made through the `RedisLink` (off
    the event loop; a Redis error is a 503 `RedisDown`). Workers keep results in the shared cache;
    what this process reads of them is also kept in `cache`'s local part, for when Redis is down."""

    backend: Literal["redis"] = "redis"

    def __init__(
        self,
        link: RedisLink,
        cache: FallbackCache,
        queue_name: str,
        result_ttl: int,
        max_retries: int,
        worker_recovery_seconds: float,
        worker_wait_seconds: float,
    ) -> None:
        self.link = link
        self.cache = cache
        self.connection = link.connection
        self.queue = Queue(queue_name, connection=self.connection, serializer=JSONSerializer)
        self.result_ttl = result_ttl
        self.max_retries = max_retries
        self.worker_recovery_seconds = worker_recovery_seconds
        self.worker_wait_seconds = worker_wait_seconds

    async def start(self) -> None:
        self.link.start()

    async def stop(self) -> None:
        await self.link.stop()

    def check_file_room(self, needed_bytes: int) -> None:
        """No disk budget here: a job's file result is kept in Redis with the job."""

    def link_state(self) -> Literal["up", "down"]:
        return "up" if self.link.up else "down"

    def _enqueue(self, spec: JobSpec, timeout: float, synchronous: bool) -> str:
        """Queue a job, or give the id of the identical job already queued or running (any API
        process; a job never joins a synchronous request's job, which is stopped with its request)."""
        job_id = uuid.uuid4().hex
        if spec.cache_key:
            marker = INFLIGHT_KEY + spec.cache_key + (f":{spec.owner}" if spec.owner else "")
            existing = self.connection.get(marker)
            job = self._fetch(_text(existing)) if existing else None
            if job is not None and (synchronous or not job.meta.get("sync")):
                view = self._view(job)
                if view.status in ("queued", "running"):
                    return view.id
            self.connection.set(marker, job_id, ex=math.ceil(timeout))
        with span("job.enqueue", job_id=job_id, queue=self.queue.name):
            spec = replace(spec, trace=carrier())
            job = self.queue.enqueue(
                execute,
                spec.to_dict(),
                job_id=job_id,
                meta={
                    "model": spec.model,
                    "sync": synchronous,
                    "owner": spec.owner,
                    "cache_key": spec.cache_key,
                },
                description=f"{spec.model} {spec.endpoint}",
                job_timeout=math.ceil(timeout),
                result_ttl=self.result_ttl,
                failure_ttl=self.result_ttl,
                retry=Retry(max=self.max_retries) if self.max_retries else None,
            )
        return job.id

    async def submit(self, work: Work, timeout: float) -> str:
        """Queue the job for a worker (which rebuilds body and data from `work.spec`) with this time limit."""
        JOB_SUBMISSIONS.labels(work.spec.model, "async").inc()
        return await self._submit(work.spec, timeout, synchronous=False)

    async def _submit(self, spec: JobSpec, timeout: float, synchronous: bool) -> str:
        return await self.link.call(carried(self._enqueue), spec, timeout, synchronous, what="running models")

    async def run(self, work: Work, timeout: float) -> CachedResponse:
        """A synchronous request's job, queued and awaited; stopped when the request gives up on it."""
        JOB_SUBMISSIONS.labels(work.spec.model, "sync").inc()
        job_id = await self._submit(work.spec, timeout, synchronous=True)
        view = await self._wait_synchronous(job_id, timeout)
        if view is None:
            raise ComputeTimeout(f"Job {job_id} expired before it could be read.")
        if view.status == "succeeded":
            return self._kept(work.spec.cache_key, view)
        if view.status in TERMINAL:
            raise JobFailed.of(view)
        raise ComputeTimeout(
            f"The computation did not finish within {timeout:g} s and was stopped; send it "
            "as a job (`Prefer: respond-async`), which has a longer limit."
        )

    def _kept(self, cache_key: str | None, view: JobView) -> CachedResponse:
        """The answer of a succeeded job, kept for when Redis is down (a worker put it in Redis)."""
        body = to_json(view.result)
        if cache_key:
            self.cache.remember(cache_key, body)
        return CachedResponse(body, etag_of(body))

    def _fetch(self, job_id: str) -> Job | None:
        if len(job_id) != JOB_ID_LENGTH or not job_id.isalnum():
            return None
        try:
            return Job.fetch(job_id, connection=self.connection, serializer=JSONSerializer)
        except NoSuchJobError:
            return None

    def _view(self, job: Job) -> JobView:
        state = job.get_status(refresh=False)
        progress = job.meta.get("progress")
        view = JobView(
            id=job.id,
            model=job.meta.get("model", ""),
            status="queued",
            owner=job.meta.get("owner"),
            created_at=_utc(job.created_at),
            started_at=_utc(job.started_at),
            finished_at=_utc(job.ended_at),
            progress=JobProgress(**progress) if progress else None,
        )
        if self.connection.exists(CANCEL_KEY + job.id) or state in _CANCELLED:
            view.status = "cancelled"
            return view.with_failure(error_payload(Cancelled()))
        if state == JobStatus.STARTED:
            view.status = "running"
        elif state == JobStatus.FINISHED:
            outcome = job.return_value() or {}
            if outcome.get("ok"):
                view.status, view.result, view.progress = "succeeded", outcome.get("result"), DONE
            else:
                view.status = "cancelled" if outcome.get("error", {}).get("code") == "cancelled" else "failed"
                view.with_failure(outcome.get("error"))
        elif state == JobStatus.FAILED:
            view.status = "failed"
            view.with_failure(
                {
                    "status": 500,
                    "code": "worker_failed",
                    "errors": [],
                    "detail": (
                        f"The workers running job {job.id} stopped unexpectedly "
                        f"{self.max_retries + 1} times; the job was given up."
                    ),
                }
            )
        elif state not in _QUEUED:
            view.status = "running"
        return view

    def _read(self, job_id: str) -> tuple[JobView | None, str | None]:
        """The job's view and the cache key of its result."""
        job = self._fetch(job_id)
        return (None, None) if job is None else (self._view(job), job.meta.get("cache_key"))

    async def get(self, job_id: str) -> JobView | None:
        view, _ = await self.link.call(self._read, job_id, what="reading jobs")
        return view

    async def wait(self, job_id: str, timeout: float) -> JobView | None:
        view, cache_key = await self._poll(job_id, timeout)
        if view is not None and view.status == "succeeded":
            self._kept(cache_key, view)
        return view

    async def _poll(self, job_id: str, timeout: float) -> tuple[JobView | None, str | None]:
        """Read the job until it ends or `timeout` seconds pass: its view either way, and its cache key."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            view, cache_key = await self.link.call(self._read, job_id, what="reading jobs")
            remaining = deadline - time.monotonic()
            if view is None or view.status in TERMINAL or remaining <= 0:
                return view, cache_key
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 1.5, 0.1)

    async def _wait_synchronous(self, job_id: str, timeout: float) -> JobView | None:
        """`_poll` for a synchronous request's job: 503 when it is still queued after
        `worker_wait_seconds` and no worker is running; the job is stopped when the request gives up
        on it."""
        deadline = time.monotonic() + timeout
        worker_wait = self.worker_wait_seconds
        try:
            view, _ = await self._poll(job_id, min(worker_wait, timeout))
            while view is not None and view.status == "queued" and time.monotonic() < deadline:
                if not await self.link.call(self.workers_alive, what="running models"):
                    raise Unavailable(
                        f"No queue worker is running (waited {worker_wait:g} s for one to "
                        "start); retry later, or ask the operator to start "
                        "`python -m api_app.worker`.",
                        headers={"Retry-After": "30"},
                    )
                view, _ = await self._poll(job_id, min(worker_wait, deadline - time.monotonic()))
            if view is not None and view.status == "running":
                view, _ = await self._poll(job_id, max(0.0, deadline - time.monotonic()))
        except BaseException:
            await self.link.offload(self.abandon, job_id)
            raise
        if view is not None and view.status not in TERMINAL:
            await self.link.offload(self.abandon, job_id)
        return view

    def workers_alive(self) -> int:
        """Workers of the queue whose last heartbeat is recent (a killed worker stays registered for minutes)."""
        now = datetime.now(UTC)
        alive = 0
        for key in worker_registration.get_keys(queue=self.queue, connection=self.connection):
            beat = self.connection.hget(key, "last_heartbeat")
            if (
                beat
                and (now - utcparse(_text(beat)).replace(tzinfo=UTC)).total_seconds()
                < 2 * self.worker_recovery_seconds
            ):
                alive += 1
        return alive

    def abandon(self, job_id: str) -> None:
        """Stop a synchronous request's job that its request no longer waits for (queued: never
        starts; running: its work horse is killed). Jobs that others may wait for are left alone."""
        if not self.link.up:
            return
        try:
            job = self._fetch(job_id)
            if job is not None and job.meta.get("sync"):
                self._stop(job, self._view(job))
        except Exception:
            pass

    async def cancel(self, job_id: str) -> JobView | None:
        return await self.link.call(self._cancel, job_id, what="cancelling jobs")

    def _cancel(self, job_id: str) -> JobView | None:
        job = self._fetch(job_id)
        if job is None:
            return None
        view = self._view(job)
        if view.status in TERMINAL:
            raise Conflict(
                f"Job {job_id} has already {view.status}; only queued or running jobs can be cancelled."
            )
        self._stop(job, view)
        return self._view(job)

    def _stop(self, job: Job, view: JobView) -> None:
        if view.status in TERMINAL:
            return
        self.connection.set(CANCEL_KEY + job.id, 1, ex=self.result_ttl)
        self.connection.hincrby(COMPLETED_KEY, "cancelled")
        if view.status == "queued":
            with contextlib.suppress(InvalidJobOperation):
                job.cancel()
        else:
            with contextlib.suppress(InvalidJobOperation):
                send_stop_job_command(self.connection, job.id, serializer=JSONSerializer)
        self.connection.expire(job.key, self.result_ttl)

    async def stats(self) -> JobStats:
        return await self.link.call(self._stats, what="reading job figures")

    def _stats(self) -> JobStats:
        queued = self.queue.count
        running = StartedJobRegistry(queue=self.queue).count
        completed = {_text(k): int(v) for k, v in self.connection.hgetall(COMPLETED_KEY).items()}
        return {
            "queued": queued,
            "running": running,
            "queue_depth": queued,
            "completed": completed,
            "workers": self._live_workers(),
            "oldest_seconds": self._oldest_wait(),
        }

    def _live_workers(self) -> int:
        """Workers registered on the queue whose key still exists (it expires without heartbeats, so
        a killed worker stops counting even though nobody removed it from the registry)."""
        keys = list(worker_registration.get_keys(queue=self.queue))
        return int(self.connection.exists(*keys)) if keys else 0

    def _oldest_wait(self) -> float:
        oldest = self.queue.get_job_ids(0, 1)
        job = self._fetch(oldest[0]) if oldest else None
        enqueued = _utc(job.enqueued_at) if job is not None else None
        return max((datetime.now(UTC) - enqueued).total_seconds(), 0.0) if enqueued else 0.0


class RecoveringWorker(Worker):
    """An rq worker whose jobs are declared abandoned `recovery_seconds` after its last heartbeat
    (rq's default is 60 s beyond the monitoring interval) and that looks for abandoned jobs of dead
    workers about every quarter of that time. Each heartbeat also touches a file in
    `heartbeat_dir` (before Redis is contacted), which the pod's liveness probe reads."""

    recovery_seconds = 60
    heartbeat_dir: Path | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        interval = max(1, self.recovery_seconds // 4)
        kwargs.setdefault("job_monitoring_interval", interval)
        kwargs.setdefault("maintenance_interval", interval)
        kwargs.setdefault("serializer", JSONSerializer)
        super().__init__(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        return max(1, self.maintenance_interval)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return self.recovery_seconds

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        if self.heartbeat_dir is not None and not self.is_horse:
            heartbeat.beat(self.heartbeat_dir, os.getpid())
        super().heartbeat(timeout, pipeline)

    def teardown(self) -> None:
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        finally:
            if self.heartbeat_dir is not None and not self.is_horse:
                heartbeat.forget(self.heartbeat_dir, os.getpid())
