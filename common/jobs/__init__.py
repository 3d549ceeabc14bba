"""Long-running work: jobs, their executors (embedded or Redis-backed) and the result cache.

Model routers need only `run_model`; the app builds the executor and cache with `build_jobs`.
"""

from typing import Any

from common.cache import LocalCache, NoCache, RedisCache, ResultCache
from common.jobs.local import LocalExecutor
from common.jobs.model import Cancelled, JobAccepted, JobProgress, JobSpec, JobView, ProgressFn
from common.jobs.run import parse_prefer, refuse_uncached, run_model
from common.settings import Settings


def build_jobs(settings: Settings) -> tuple[Any, ResultCache]:
    """The executor and result cache JOB_BACKEND asks for (Redis is only contacted when used)."""
    if settings.job_backend == "redis":
        from common.jobs.redis_queue import RedisExecutor, connect

        connection = connect(settings.effective_redis_url)
        executor = RedisExecutor(connection, settings.job_queue, settings.job_result_ttl_seconds,
                                 settings.job_max_retries, settings.compute_timeout_seconds)
        return executor, RedisCache(connection, settings.cache_ttl_seconds)
    cache = (LocalCache(settings.cache_max_entries, settings.cache_ttl_seconds)
             if settings.cache_max_entries else NoCache())
    return LocalExecutor(cache, settings.job_result_ttl_seconds), cache


__all__ = ["Cancelled", "JobAccepted", "JobProgress", "JobSpec", "JobView", "ProgressFn", "build_jobs",
           "parse_prefer", "refuse_uncached", "run_model"]
