"""Loaded data shared by models, with the state readiness reports (loading, ready, failed)."""

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from common.errors import Unavailable

LOADING, READY, FAILED = "loading", "ready", "failed"
LOAD_WAIT_SECONDS = 30.0
"""How long a request for data that is still loading waits before it is answered 503."""


@dataclass
class Resource:
    state: str = LOADING
    value: Any = None
    error: str | None = None


class ResourceStore:
    """Named resources (datasets, model stores) of one app, filled in by its startup."""

    def __init__(self) -> None:
        self._items: dict[str, Resource] = {}
        self._lock = threading.Lock()

    def expect(self, name: str) -> None:
        with self._lock:
            self._items.setdefault(name, Resource())

    def set_ready(self, name: str, value: Any) -> None:
        with self._lock:
            self._items[name] = Resource(READY, value)

    def set_failed(self, name: str, error: str) -> None:
        with self._lock:
            self._items[name] = Resource(FAILED, None, error)

    def state(self, name: str) -> Resource:
        return self._items.get(name, Resource(FAILED, None, f"resource {name!r} is not configured"))

    def get(self, name: str) -> Any:
        item = self.state(name)
        if item.state == READY:
            return item.value
        if item.state == LOADING:
            raise Unavailable(
                f"The {name} data is still loading; retry in a few seconds.", headers={"Retry-After": "2"}
            )
        raise Unavailable(f"The {name} data could not be loaded: {item.error}")

    async def wait_loaded(self, name: str, timeout: float) -> None:
        """Return once `name` is no longer loading, or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.state(name).state == LOADING and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def snapshot(self) -> dict[str, dict[str, str]]:
        return {
            name: {"state": item.state, **({"error": item.error} if item.error else {})}
            for name, item in sorted(self._items.items())
        }


def use_resource(name: str) -> Callable[[Request], Any]:
    """FastAPI dependency giving the loaded resource `name`, or a 503 saying why it is missing.

    A request that arrives while the data is still loading (a cold start) waits for it, up to
    LOAD_WAIT_SECONDS, instead of failing at once."""

    async def dependency(request: Request) -> Any:
        store = request.app.state.resources
        await store.wait_loaded(name, LOAD_WAIT_SECONDS)
        return store.get(name)

    dependency.__name__ = f"use_{name}"
    return dependency
