"""The contract of a job executor: what the HTTP layer, health and metrics need of it, whichever
backend runs the work (`LocalExecutor`: this process's compute processes; `RedisExecutor`: an rq
queue served by `python -m api_app.worker`)."""

from typing import Literal, Protocol

from common.cache import CachedResponse
from common.jobs.types import JobStats, JobView, Work


class Executor(Protocol):
    @property
    def backend(self) -> Literal["local", "redis"]:
        """The `backend` label of the job metrics."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def run(self, work: Work, timeout: float) -> CachedResponse:
        """The answer of a synchronous request: the function's result as a JSON body with its ETag
        (kept in the result cache when `work.spec.cache_key` is set), computed within `timeout`
        seconds and stopped past them (`ComputeTimeout`); its failure is raised as the HTTP error
        it maps to."""
        ...

    async def submit(self, work: Work, timeout: float) -> str:
        """Start a job with this time limit and give its id; `Overloaded` (503) when there is no room."""
        ...

    async def wait(self, job_id: str, timeout: float) -> JobView | None:
        """The job once it has ended, or as it is after `timeout` seconds; None if it does not exist."""
        ...

    async def get(self, job_id: str) -> JobView | None: ...

    async def cancel(self, job_id: str) -> JobView | None:
        """Stop a queued or running job (`Conflict` when it has already ended); None if it does not exist."""
        ...

    async def stats(self) -> JobStats: ...

    def check_file_room(self, needed_bytes: int) -> None:
        """503 with Retry-After when a job's file result of `needed_bytes` would not fit where the
        executor keeps such files."""
        ...

    def link_state(self) -> Literal["up", "down"] | None:
        """The state of the connection to the queue (for /health/ready); None without one."""
        ...
