"""Long-running work: jobs, their executors (embedded or Redis-backed) and the result cache.

Model routers need only `run_model`; the app builds the executor and cache with `build_jobs`.
"""

from typing import Any

from common.cache import FallbackCache, LocalCache, NoCache, RedisCache, ResultCache
from common.jobs.files import FileStore
from common.jobs.local import LocalExecutor
from common.jobs.model import Cancelled, JobAccepted, JobProgress, JobSpec, JobView
from common.jobs.run import parse_prefer, refuse_too_long, refuse_uncached, run_model
from common.settings import Settings


def build_jobs(settings: Settings) -> tuple[Any, ResultCache]:
    """The executor and result cache JOB_BACKEND asks for (Redis is only contacted when used)."""
    local = (
        LocalCache(settings.cache_max_entries, settings.cache_ttl_seconds)
        if settings.cache_max_entries
        else NoCache()
    )
    if settings.job_backend == "redis":
        from common.jobs.redis_queue import RedisExecutor
        from common.redis_link import RedisLink, connect

        link = RedisLink(connect(settings.effective_redis_url, settings.redis_timeout_seconds))
        executor = RedisExecutor(
            link,
            settings.job_queue,
            settings.job_result_ttl_seconds,
            settings.job_max_retries,
            settings.worker_recovery_seconds,
        )
        return executor, FallbackCache(RedisCache(link.connection, settings.cache_ttl_seconds), local, link)
    files = FileStore(settings.job_files_dir, settings.job_files_max_bytes)
    return LocalExecutor(local, settings.job_result_ttl_seconds, files), local


__all__ = [
    "Cancelled",
    "JobAccepted",
    "JobProgress",
    "JobSpec",
    "JobView",
    "build_jobs",
    "parse_prefer",
    "refuse_too_long",
    "refuse_uncached",
    "run_model",
]
