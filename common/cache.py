"""The result cache: identical requests on the same dataset version answer from here.

A key names the model, the endpoint, the canonical JSON of the request and the dataset fingerprint;
an entry is the response body (JSON bytes) and its ETag. In-process LRU by default; Redis (shared by
every API process and written by the workers) when JOB_BACKEND=redis.
"""

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from common import forksafe
from common.metrics import CACHE_REQUESTS

REDIS_PREFIX = "sids:cache:"
T = TypeVar("T")


@dataclass(frozen=True)
class CachedResponse:
    body: bytes
    etag: str


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def cache_key(model: str, endpoint: str, body: Any, fingerprint: str | None) -> str:
    """Hex digest naming one request: model, endpoint, canonical request JSON, dataset version."""
    text = canonical_json({"model": model, "endpoint": endpoint, "body": body, "data": fingerprint})
    return hashlib.sha256(text.encode()).hexdigest()


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of `If-None-Match` (a list of tags or `*`) with `etag`."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


class ResultCache(Protocol):
    def get(self, key: str) -> CachedResponse | None: ...

    def put(self, key: str, body: bytes) -> CachedResponse: ...


class NoCache:
    def get(self, key: str) -> CachedResponse | None:
        return None

    def put(self, key: str, body: bytes) -> CachedResponse:
        return CachedResponse(body, etag_of(body))


class LocalCache:
    """Thread-safe LRU with a time limit per entry."""

    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self.max_entries = max_entries
        self.ttl = ttl_seconds
        self._entries: OrderedDict[str, tuple[float, CachedResponse]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            item = self._entries.get(key)
            if item is None or item[0] < time.monotonic():
                self._entries.pop(key, None)
                CACHE_REQUESTS.labels("miss").inc()
                return None
            self._entries.move_to_end(key)
        CACHE_REQUESTS.labels("hit").inc()
        return item[1]

    def put(self, key: str, body: bytes) -> CachedResponse:
        entry = CachedResponse(body, etag_of(body))
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl, entry)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return entry

    def __len__(self) -> int:
        return len(self._entries)


class RedisCache:
    """Entries as Redis strings `sids:cache:<key>` = ETag, newline, body; expiry by Redis."""

    def __init__(self, connection: Any, ttl_seconds: int) -> None:
        self.connection = connection
        self.ttl = ttl_seconds

    def get(self, key: str) -> CachedResponse | None:
        raw = self.connection.get(REDIS_PREFIX + key)
        if raw is None:
            CACHE_REQUESTS.labels("miss").inc()
            return None
        etag, _, body = raw.partition(b"\n")
        CACHE_REQUESTS.labels("hit").inc()
        return CachedResponse(body, etag.decode())

    def put(self, key: str, body: bytes) -> CachedResponse:
        entry = CachedResponse(body, etag_of(body))
        self.connection.set(REDIS_PREFIX + key, entry.etag.encode() + b"\n" + body, ex=self.ttl)
        return entry


class FallbackCache:
    """The Redis cache, and an in-process one that serves while Redis is down (JOB_BACKEND=redis):
    what this process read from Redis or had computed is kept there too. Its calls block: the API
    makes them off the event loop (`cache_get`, `cache_put`)."""

    def __init__(self, shared: RedisCache, local: "LocalCache | NoCache", link: Any) -> None:
        self.shared = shared
        self.local = local
        self.link = link

    def get(self, key: str) -> CachedResponse | None:
        from redis.exceptions import RedisError  # imported once Redis is in use

        if self.link.up:
            try:
                entry = self.shared.get(key)
            except RedisError as exc:
                self.link.mark(False, exc)
            else:
                if entry is not None:
                    self.local.put(key, entry.body)
                return entry
        return self.local.get(key)

    def remember(self, key: str, body: bytes) -> None:
        """Keep a body a worker computed (and put in Redis) for when Redis is down."""
        self.local.put(key, body)

    def put(self, key: str, body: bytes) -> CachedResponse:
        from redis.exceptions import RedisError

        if self.link.up:
            try:
                return self.shared.put(key, body)
            except RedisError as exc:
                self.link.mark(False, exc)
        return self.local.put(key, body)


async def cache_get(cache: ResultCache, key: str) -> CachedResponse | None:
    link = getattr(cache, "link", None)
    return cache.get(key) if link is None else await link.offload(cache.get, key)


async def cache_put(cache: ResultCache, key: str, body: bytes) -> CachedResponse:
    link = getattr(cache, "link", None)
    return cache.put(key, body) if link is None else await link.offload(cache.put, key, body)


class Memo:
    """Thread-safe LRU of computed values: `get(key, build)` returns the kept value or builds and
    keeps it (two threads missing the same key at once may both build; the later one is kept)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = forksafe.Lock()  # compute processes forked with a Memo use it

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                cached: T = self._items[key]
                return cached
        value = build()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


@dataclass(frozen=True)
class KnownRequest:
    """What a request's raw bytes were proven to mean: the result-cache key of its answer, and the
    data (name, fingerprint) that answer was computed on."""

    key: str
    data: str | None
    fingerprint: str | None


def raw_request_key(method: str, path: str, query: bytes, content_type: bytes, body: bytes) -> str:
    """Digest of a request exactly as it arrived (method, path, query, content type, body bytes)."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, content_type):
        digest.update(len(part).to_bytes(4, "big") + part)
    digest.update(body)
    return digest.hexdigest()


class RequestIndex:
    """Thread-safe LRU from raw request digests (`raw_request_key`) to `KnownRequest`s: a request
    whose bytes, route and content type equal one that passed validation and was answered from (or
    into) the result cache means the same, so its answer can be served without parsing, validating
    and canonicalising it again. Only a request the full path accepted is ever recorded."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, KnownRequest] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, raw_key: str) -> KnownRequest | None:
        with self._lock:
            known = self._items.get(raw_key)
            if known is not None:
                self._items.move_to_end(raw_key)
            return known

    def put(self, raw_key: str, known: KnownRequest) -> None:
        with self._lock:
            self._items[raw_key] = known
            self._items.move_to_end(raw_key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def forget(self, raw_key: str) -> None:
        with self._lock:
            self._items.pop(raw_key, None)

    def __len__(self) -> int:
        return len(self._items)
