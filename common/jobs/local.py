"""Embedded job executor: jobs run in this process's compute processes and live in an in-memory store.

Nothing else to install; the store is per process, so use JOB_BACKEND=redis with several API
processes. Cancelling a running job kills its compute process (replaced at once), so the slot is
free again within a fraction of a second (with COMPUTE_ISOLATION=thread: at its next progress report).
A job's file result (a scored batch) is written to the `FileStore` on disk, not kept in memory.
"""

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from common.cache import CachedResponse, ResultCache, etag_of
from common.compute import get_processes
from common.errors import Conflict, Overloaded
from common.jobs.files import FileStore
from common.jobs.types import (
    DONE,
    TERMINAL,
    Cancelled,
    FileResult,
    JobProgress,
    JobStats,
    JobView,
    Work,
    error_payload,
    to_json,
)
from common.metrics import JOB_SUBMISSIONS
from common.progress import Progress

if TYPE_CHECKING:
    from common.processes import ProcessPool

SWEEP_SECONDS = 60.0
"""How often expired jobs (and their files) are removed when no request does it first."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class LocalJob:
    id: str
    model: str
    owner: str | None = None
    status: str = "queued"
    created_at: datetime = field(default_factory=_now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: JobProgress | None = None
    result: Any = None
    failure: dict[str, Any] | None = None
    expires_at: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    task: asyncio.Task[None] | None = None

    def view(self) -> JobView:
        return JobView(
            id=self.id,
            model=self.model,
            status=self.status,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            progress=self.progress,
            result=self.result,
            owner=self.owner,
        ).with_failure(self.failure)


class LocalExecutor:
    """Jobs in this process (an `Executor`). `processes()` gives the compute processes to run them
    in: the app's, which exist once it has started."""

    backend: Literal["local"] = "local"

    def __init__(
        self,
        cache: ResultCache,
        result_ttl: float,
        files: FileStore | None = None,
        processes: "Callable[[], ProcessPool]" = get_processes,
    ) -> None:
        self.cache = cache
        self.result_ttl = result_ttl
        self.files = files
        self.processes = processes
        self._jobs: dict[str, LocalJob] = {}
        self._lock = threading.Lock()
        self._completed: Counter[str] = Counter()
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.files is not None:
            await asyncio.to_thread(self.files.remove_older_than, self.result_ttl)
        self._sweeper = asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(SWEEP_SECONDS, self.result_ttl))
            self._purge()

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for job in list(self._jobs.values()):
            job.cancelled.set()
            if job.task is not None:
                job.task.cancel()
        if self.files is not None:
            self.files.clear()

    def check_file_room(self, needed_bytes: int) -> None:
        """503 with Retry-After when `needed_bytes` more do not fit in the disk budget for job files."""
        if self.files is not None:
            self.files.check_room(needed_bytes)

    def link_state(self) -> None:
        return None

    def _purge(self) -> None:
        now = time.monotonic()
        with self._lock:
            expired = [k for k, j in self._jobs.items() if j.expires_at is not None and j.expires_at < now]
            for key in expired:
                del self._jobs[key]
        if self.files is not None:
            for key in expired:
                self.files.delete(key)

    def _finish(
        self, job: LocalJob, status: str, result: Any = None, failure: dict[str, Any] | None = None
    ) -> None:
        with self._lock:
            if job.status in TERMINAL:
                return
            job.status, job.result, job.failure = status, result, failure
            job.finished_at = _now()
            job.expires_at = time.monotonic() + self.result_ttl
            self._completed[status] += 1

    def _progress(self, job: LocalJob) -> Progress:
        def report(stage: str, fraction: float, done: int | None = None, total: int | None = None) -> None:
            job.progress = JobProgress.of(stage, fraction, done, total)

        return report

    def _started(self, job: LocalJob) -> Callable[[], None]:
        def start() -> None:
            job.status, job.started_at = "running", _now()

        return start

    def _keep_file(self, job: LocalJob, payload: bytes) -> bytes:
        """A file result goes to the `FileStore` on disk; the job keeps its reference."""
        if self.files is None:
            return payload
        file = FileResult.in_body(payload)
        return payload if file is None else to_json(self.files.put(job.id, file))

    async def run(self, work: Work, timeout: float) -> CachedResponse:
        from common.processes import Call  # (common.processes imports this package)

        payload = await self.processes().run(Call.of(work.fn, work.body, work.spec.data), timeout)
        key = work.spec.cache_key
        return self.cache.put(key, payload) if key else CachedResponse(payload, etag_of(payload))

    async def _run(self, job: LocalJob, work: Work, timeout: float) -> None:
        from common.processes import Call  # (common.processes imports this package)

        spec = work.spec
        try:
            payload = await self.processes().run(
                Call.of(work.fn, work.body, spec.data, job.id),
                timeout,
                self._progress(job),
                job.cancelled,
                self._started(job),
            )
            if not job.cancelled.is_set():
                payload = await asyncio.to_thread(self._keep_file, job, payload)
        except Overloaded:
            with self._lock:
                self._jobs.pop(job.id, None)
            raise
        except asyncio.CancelledError:
            self._finish(job, "cancelled", failure=error_payload(Cancelled()))
            raise
        except BaseException as exc:
            status = "cancelled" if isinstance(exc, Cancelled) else "failed"
            self._finish(job, status, failure=error_payload(exc, job.id))
            return
        if job.cancelled.is_set():
            self._finish(job, "cancelled", failure=error_payload(Cancelled()))
            if self.files is not None:
                self.files.delete(job.id)  # a file written before the cancel arrived
            return
        if spec.cache_key:
            self.cache.put(spec.cache_key, payload)
        job.progress = DONE
        self._finish(job, "succeeded", result=json.loads(payload))

    async def submit(self, work: Work, timeout: float) -> str:
        """Start a job with this time limit; `Overloaded` (503) at once when the compute processes
        have no room for it."""
        self._purge()
        JOB_SUBMISSIONS.labels(work.spec.model, "async").inc()
        job = LocalJob(id=uuid.uuid4().hex, model=work.spec.model, owner=work.spec.owner)
        with self._lock:
            self._jobs[job.id] = job
        task = job.task = asyncio.create_task(self._run(job, work, timeout))
        await asyncio.sleep(0)  # the task claims its compute slot (or fails to) before we answer
        if task.done() and isinstance(overloaded := task.exception(), Overloaded):
            raise overloaded
        return job.id

    async def wait(self, job_id: str, timeout: float) -> JobView | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        if job.task is not None and job.status not in TERMINAL:
            await asyncio.wait({job.task}, timeout=timeout)
        return job.view()

    async def get(self, job_id: str) -> JobView | None:
        self._purge()
        job = self._jobs.get(job_id)
        return job.view() if job is not None else None

    async def cancel(self, job_id: str) -> JobView | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        if job.status in TERMINAL:
            raise Conflict(
                f"Job {job_id} has already {job.status}; only queued or running jobs can be cancelled."
            )
        job.cancelled.set()
        self._finish(job, "cancelled", failure=error_payload(Cancelled()))
        return job.view()

    async def stats(self) -> JobStats:
        with self._lock:
            states = Counter(job.status for job in self._jobs.values())
            completed = dict(self._completed)
        return {
            "queued": states["queued"],
            "running": states["running"],
            "queue_depth": states["queued"],
            "completed": completed,
        }
