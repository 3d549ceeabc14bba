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

from rq import Queue, Retry, Worker, worker_registration
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.utils import utcparse

from common import heartbeat
from common.errors import Conflict, Unavailable
from common.jobs.model import DONE, TERMINAL, Cancelled, JobProgress, JobSpec, JobView, error_payload
from common.jobs.task import CANCEL_KEY, COMPLETED_KEY, execute
from common.redis_link import RedisLink, connect
from common.telemetry import carried, carrier, span

__all__ = ["RecoveringWorker", "RedisExecutor", "connect"]

JOB_ID_LENGTH = 32
INFLIGHT_KEY = "sids:inflight:"
_QUEUED = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED}
_CANCELLED = {JobStatus.STOPPED, JobStatus.CANCELED}


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class RedisExecutor:
    """Jobs in the rq queue. Every Redis call is made through the `RedisLink` (off the event loop; a
    Redis error is a 503 `RedisDown`); the blocking methods (`get`, `cancel`, `stats`) are meant for
    `link.call`."""

    backend = "redis"

    def __init__(
        self,
        link: RedisLink,
        queue_name: str,
        result_ttl: int,
        max_retries: int,
        worker_recovery_seconds: float,
    ) -> None:
        self.link = link
        self.connection = link.connection
        self.queue = Queue(queue_name, connection=self.connection, serializer=JSONSerializer)
        self.result_ttl = result_ttl
        self.max_retries = max_retries
        self.worker_recovery_seconds = worker_recovery_seconds
        self.flights: dict[str, asyncio.Future] = {}

    async def start(self) -> None:
        self.link.start()

    async def stop(self) -> None:
        await self.link.stop()

    def _enqueue(self, spec: JobSpec, timeout: float, synchronous: bool) -> str:
        """Queue a job, or give the id of the identical job already queued or running (any API
        process; a job never joins a synchronous request's job, which is stopped with its request)."""
        job_id = uuid.uuid4().hex
        if spec.cache_key:
            marker = INFLIGHT_KEY + spec.cache_key + (f":{spec.owner}" if spec.owner else "")
            existing = self.connection.get(marker)
            job = self._fetch(existing.decode()) if existing else None
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
                meta={"model": spec.model, "sync": synchronous, "owner": spec.owner},
                description=f"{spec.model} {spec.endpoint}",
                job_timeout=math.ceil(timeout),
                result_ttl=self.result_ttl,
                failure_ttl=self.result_ttl,
                retry=Retry(max=self.max_retries) if self.max_retries else None,
            )
        return job.id

    async def submit(
        self,
        spec: JobSpec,
        fn: object = None,
        body: object = None,
        timeout: float = 300,
        synchronous: bool = False,
    ) -> str:
        """Queue the job for a worker (which rebuilds body and data from `spec`) with this time limit."""
        return await self.link.call(carried(self._enqueue), spec, timeout, synchronous, what="running models")

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

    def get(self, job_id: str) -> JobView | None:
        job = self._fetch(job_id)
        return self._view(job) if job is not None else None

    async def wait(self, job_id: str, timeout: float) -> JobView | None:
        """Poll the job until it ends or `timeout` seconds pass; its view either way."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            view = await self.link.call(self.get, job_id, what="reading jobs")
            remaining = deadline - time.monotonic()
            if view is None or view.status in TERMINAL or remaining <= 0:
                return view
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 1.5, 0.1)

    async def wait_synchronous(self, job_id: str, timeout: float, worker_wait: float) -> JobView | None:
        """`wait` for a synchronous request's job: 503 when it is still queued after `worker_wait`
        seconds and no worker is running; the job is stopped when the request gives up on it."""
        deadline = time.monotonic() + timeout
        try:
            view = await self.wait(job_id, min(worker_wait, timeout))
            while view is not None and view.status == "queued" and time.monotonic() < deadline:
                if not await self.link.call(self.workers_alive, what="running models"):
                    raise Unavailable(
                        f"No queue worker is running (waited {worker_wait:g} s for one to "
                        "start); retry later, or ask the operator to start "
                        "`python -m api_app.worker`.",
                        headers={"Retry-After": "30"},
                    )
                view = await self.wait(job_id, min(worker_wait, deadline - time.monotonic()))
            if view is not None and view.status == "running":
                view = await self.wait(job_id, max(0.0, deadline - time.monotonic()))
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
                and (now - utcparse(beat.decode()).replace(tzinfo=UTC)).total_seconds()
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

    def cancel(self, job_id: str) -> JobView | None:
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

    def stats(self) -> dict:
        queued = self.queue.count
        running = StartedJobRegistry(queue=self.queue).count
        completed = {k.decode(): int(v) for k, v in self.connection.hgetall(COMPLETED_KEY).items()}
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

    def __init__(self, *args, **kwargs) -> None:
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

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        if self.heartbeat_dir is not None and not self.is_horse:
            heartbeat.beat(self.heartbeat_dir, os.getpid())
        super().heartbeat(timeout, pipeline)

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            if self.heartbeat_dir is not None and not self.is_horse:
                heartbeat.forget(self.heartbeat_dir, os.getpid())
