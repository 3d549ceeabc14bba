"""Fair use: per-caller rate limits weighted by cost (the `limits` library, Redis storage when REDIS_URL is
set so every pod shares them, in memory otherwise) and caps on concurrent heavy work, per caller and
for all anonymous callers together.

A heavy request holds a lease while it runs; a heavy request answered `202` hands its lease to its job,
which keeps it until the job ends (checked against the job executor) or COMPUTE_TIMEOUT_SECONDS pass.
"""

import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # `limits` is imported when the first request is rate-limited
    from limits import RateLimitItem
    from limits.aio.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)
LEASE_PREFIX = "sids:heavy:"
ANONYMOUS_POOL = "anonymous-all"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(self.reset_seconds, 1))
        return headers


class RateLimits:
    """Cost-weighted limits per caller; a storage failure lets the request through (logged)."""

    def __init__(self, redis_url: str | None) -> None:
        self.redis_url = redis_url
        self._limiter: MovingWindowRateLimiter | None = None
        self._items: dict[str, RateLimitItem] = {}

    @property
    def limiter(self) -> "MovingWindowRateLimiter":
        """The limiter over its storage, made on first use (with AUTH_MODE=off nothing is limited)."""
        if self._limiter is None:
            from limits.aio.storage import MemoryStorage, RedisStorage
            from limits.aio.strategies import MovingWindowRateLimiter

            storage = (
                RedisStorage(f"async+{self.redis_url}", implementation="redispy", key_prefix="sids-limits")
                if self.redis_url
                else MemoryStorage()
            )
            self._limiter = MovingWindowRateLimiter(storage)
        return self._limiter

    def item(self, text: str) -> "RateLimitItem":
        from limits import parse

        if text not in self._items:
            self._items[text] = parse(text)
        return self._items[text]

    async def hit(self, limit: str, caller: str, cost: int) -> Verdict | None:
        item = self.item(limit)
        limiter = self.limiter
        try:
            allowed = await limiter.hit(item, caller, cost=cost)
            stats = await limiter.get_window_stats(item, caller)
        except Exception as exc:
            log.warning("rate limit storage unavailable, request let through: %s", exc)
            return None
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        return Verdict(allowed, item.amount, max(stats.remaining, 0), reset)


class HeavyLeases:
    """Counts heavy work in flight per holder; Redis sorted sets (member = lease, score = expiry) when
    REDIS_URL is set, a dict otherwise."""

    def __init__(self, redis_url: str | None, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self.memory: dict[str, dict[str, float]] = {}
        self.redis = None
        if redis_url:
            from redis.asyncio import Redis

            self.redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)

    async def _members(self, holder: str, now: float) -> dict[str, float]:
        if self.redis is None:
            leases = self.memory.setdefault(holder, {})
            for lease in [k for k, expiry in leases.items() if expiry <= now]:
                del leases[lease]
            return dict(leases)
        key = LEASE_PREFIX + holder
        await self.redis.zremrangebyscore(key, "-inf", now)
        # redis-py types zrange's result as any range shape; with scores (and bytes responses) it is pairs.
        scored = cast(list[tuple[bytes, float]], await self.redis.zrange(key, 0, -1, withscores=True))
        return {member.decode(): expiry for member, expiry in scored}

    async def _remove(self, holder: str, lease: str) -> None:
        if self.redis is None:
            self.memory.get(holder, {}).pop(lease, None)
        else:
            await self.redis.zrem(LEASE_PREFIX + holder, lease)

    async def _add(self, holder: str, lease: str, expiry: float) -> None:
        if self.redis is None:
            self.memory.setdefault(holder, {})[lease] = expiry
        else:
            key = LEASE_PREFIX + holder
            await self.redis.zadd(key, {lease: expiry})
            await self.redis.expire(key, int(self.ttl) + 60)

    async def acquire(
        self, holders: dict[str, int], job_finished: Callable[[str], Awaitable[bool]]
    ) -> str | None:
        """A lease counted against every holder (holder → its cap), or None when one is at its cap.
        Leases that belong to jobs that have ended are dropped first."""
        now = time.time()
        lease = "req:" + uuid.uuid4().hex
        try:
            for holder, cap in holders.items():
                members = await self._members(holder, now)
                live = 0
                for member in members:
                    if member.startswith("job:") and await job_finished(member[4:]):
                        await self._remove(holder, member)
                    else:
                        live += 1
                if live >= cap:
                    return None
            for holder in holders:
                await self._add(holder, lease, now + self.ttl)
        except Exception as exc:
            log.warning("heavy-work lease storage unavailable, request let through: %s", exc)
        return lease

    async def release(self, holders: list[str], lease: str, job_id: str | None = None) -> None:
        """End a request's lease, or hand it to the job it started (`job_id`)."""
        try:
            for holder in holders:
                await self._remove(holder, lease)
                if job_id:
                    await self._add(holder, "job:" + job_id, time.time() + self.ttl)
        except Exception as exc:
            log.warning("heavy-work lease storage unavailable: %s", exc)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
