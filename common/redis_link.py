"""The API's link to Redis (JOB_BACKEND=redis) and what it knows of Redis's health.

Every Redis call of the API runs off the event loop, on a small thread pool of its own, with a
socket timeout (REDIS_TIMEOUT_SECONDS), so a stalled Redis never stalls /health/live or /metrics.
A Redis error marks the link down: while it is down, calls fail at once (paths that need Redis
answer 503 with Retry-After, the result cache uses its in-process fallback) instead of each
waiting for a timeout; a background ping every second marks it up again. `sids_redis_up` and
readiness's `redis` field report the state.
"""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from redis import Redis
from redis.exceptions import RedisError

from common.errors import Unavailable
from common.metrics import REDIS_UP

log = logging.getLogger(__name__)

T = TypeVar("T")
PING_INTERVAL = 1.0
RETRY_AFTER = "5"


class RedisDown(Unavailable):
    """Redis cannot be reached: the answer is a 503 the caller can retry."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"The job queue (Redis) cannot be reached, so {what} cannot be done now; retry in a few seconds.",
            headers={"Retry-After": RETRY_AFTER},
        )


def connect(url: str, timeout: float | None = None) -> Redis:
    """A Redis client; `timeout` bounds every command (None: rq's workers set their own)."""
    return Redis.from_url(
        url, socket_connect_timeout=timeout or 5, socket_timeout=timeout, health_check_interval=30
    )


class RedisLink:
    def __init__(self, connection: Redis) -> None:
        self.connection = connection
        self.up = True
        self._threads = ThreadPoolExecutor(8, thread_name_prefix="redis")
        self._monitor: asyncio.Task[None] | None = None
        REDIS_UP.set(1)

    def mark(self, up: bool, reason: object = None) -> None:
        if up != self.up:
            if up:
                log.warning("Redis is reachable again")
            else:
                log.error("Redis is unreachable: %s", reason)
        self.up = up
        REDIS_UP.set(1 if up else 0)

    def guarded(self, fn: Callable[..., T], *args: Any, what: str = "this request") -> T:
        """`fn(*args)` (blocking), or `RedisDown` at once while Redis is down or when it fails."""
        if not self.up:
            raise RedisDown(what)
        try:
            return fn(*args)
        except RedisError as exc:
            self.mark(False, exc)
            raise RedisDown(what) from None

    async def call(self, fn: Callable[..., T], *args: Any, what: str = "this request") -> T:
        """`guarded(fn, *args)` on the link's threads, off the event loop."""
        return await self.offload(lambda: self.guarded(fn, *args, what=what))

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the link's threads (for callers that handle Redis errors themselves)."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    def _ping(self) -> None:
        try:
            self.connection.ping()
        except RedisError as exc:
            self.mark(False, exc)
        else:
            self.mark(True)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await loop.run_in_executor(self._threads, self._ping)
            await asyncio.sleep(PING_INTERVAL)

    def start(self) -> None:
        self._monitor = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
        await asyncio.get_running_loop().run_in_executor(self._threads, self.connection.close)
        self._threads.shutdown(wait=False, cancel_futures=True)
