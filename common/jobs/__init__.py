"""Long-running work: jobs, their executors (embedded or Redis-backed, both an `Executor`) and the
result cache. The app builds the executor and cache with `build_jobs`; the HTTP side (`run_model`,
`Prefer`, the /jobs routes) is in `api_app`."""

from collections.abc import Callable
from typing import TYPE_CHECKING

from common.cache import FallbackCache, LocalCache, NoCache, RedisCache, ResultCache
from common.compute import get_processes
from common.jobs.executor import Executor
from common.jobs.files import FileStore
from common.jobs.local import LocalExecutor
from common.jobs.types import Cancelled, JobAccepted, JobProgress, JobSpec, JobView, Work
from common.settings import Settings

if TYPE_CHECKING:
    from common.processes import ProcessPool


def build_jobs(
    settings: Settings, processes: "Callable[[], ProcessPool]" = get_processes
) -> tuple[Executor, ResultCache]:
    """The executor and result cache JOB_BACKEND asks for (Redis is only contacted when used);
    `processes()` gives the compute processes embedded jobs run in."""
    local = (
        LocalCache(settings.cache_max_entries, settings.cache_ttl_seconds)
        if settings.cache_max_entries
        else NoCache()
    )
    if settings.job_backend == "redis":
        from common.jobs.redis_queue import RedisExecutor
        from common.redis_link import RedisLink, connect

        link = RedisLink(connect(settings.effective_redis_url, settings.redis_timeout_seconds))
        cache = FallbackCache(RedisCache(link.connection, settings.cache_ttl_seconds), local, link)
        executor = RedisExecutor(
            link,
            cache,
            settings.job_queue,
            settings.job_result_ttl_seconds,
            settings.job_max_retries,
            settings.worker_recovery_seconds,
            settings.worker_wait_seconds,
        )
        return executor, cache
    files = FileStore(settings.job_files_dir, settings.job_files_max_bytes)
    return LocalExecutor(local, settings.job_result_ttl_seconds, files, processes), local


__all__ = [
    "Cancelled",
    "Executor",
    "JobAccepted",
    "JobProgress",
    "JobSpec",
    "JobView",
    "Work",
    "build_jobs",
]
