"""Bytes shared by every worker process of a deployment, for intermediate results that are costly
to rebuild (twolvlImp's imputed matrices): a model's in-process cache can keep a second level here.

Configured once per process: `python -m api_app.worker` puts Redis here (JOB_BACKEND=redis, where
each job runs in a fresh work horse and in-process caches do not outlive it). Unconfigured, a
process has no shared level and its caches are in-process only.
"""

import hashlib
import logging
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:  # the caller (the queue worker) imports redis and passes the connection
    from redis import Redis

log = logging.getLogger(__name__)

REDIS_PREFIX = "sids:shared:"


class BlobStore(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...


class RedisBlobStore:
    """Values as Redis strings `sids:shared:<sha256 of the key>` with an expiry. A Redis error is
    logged and treated as a miss: the shared level only ever saves work."""

    def __init__(self, connection: "Redis", ttl_seconds: int) -> None:
        self.connection = connection
        self.ttl = ttl_seconds

    @staticmethod
    def _name(key: str) -> str:
        return REDIS_PREFIX + hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str) -> bytes | None:
        try:
            # redis-py cannot tell bytes from str replies statically; without decode_responses they are bytes.
            return cast(bytes | None, self.connection.get(self._name(key)))
        except Exception as exc:
            log.warning("shared store unavailable (%s); computing instead", exc)
            return None

    def put(self, key: str, value: bytes) -> None:
        try:
            self.connection.set(self._name(key), value, ex=self.ttl)
        except Exception as exc:
            log.warning("shared store unavailable (%s); result kept in this process only", exc)


_store: BlobStore | None = None


def configure(store: BlobStore | None) -> None:
    global _store
    _store = store


def shared_store() -> BlobStore | None:
    return _store
