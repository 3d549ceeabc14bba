"""Run CPU-heavy work off the event loop, bounded and with a time limit.

Three lanes:
- `get_processes().run(call, ...)`: a model's main computation (a `common.calls.Call`) in a
  persistent compute process that is killed and replaced when it overruns or is cancelled
  (`common.processes`); `run_model` sends every main endpoint's work there.
- `get_processes().run(call, ..., quick=True)`: a quick scoring call (an artifact pipeline the API
  process does not load, `models._artifacts.runtime.ComputeProcessPredictor`) in the same kind of
  process, but first in one of the COMPUTE_SCORING_WORKERS processes reserved for such calls, so it
  never waits behind the long computations of the first lane (a free general process otherwise).
- `run_cpu(fn, *args)`: in-process work on loaded objects (a model store reload, scoring a few
  rows with a loaded model) on a bounded thread pool; such work cannot be stopped, so keep it short.
"""

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from common.errors import ComputeTimeout, Overloaded
from common.metrics import COMPUTE_IN_FLIGHT
from common.telemetry import carried

if TYPE_CHECKING:  # common.processes imports common.jobs, which imports this module
    from common.processes import ProcessPool

T = TypeVar("T")


class ComputePool:
    """Threads for model computations (NumPy/scikit-learn release the GIL while they crunch).

    At most `workers` computations run at once and at most `queue_size` more wait; beyond that a
    caller gets `Overloaded` at once instead of queueing forever. A computation that exceeds
    `timeout` seconds answers `ComputeTimeout`; its thread finishes in the background.
    """

    def __init__(self, workers: int, queue_size: int, timeout: float) -> None:
        self.workers = workers
        self.timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="compute")
        self._slots = threading.BoundedSemaphore(workers + queue_size)
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if not self._slots.acquire(blocking=False):
            raise Overloaded(
                "The server is busy with other computations; retry in a few seconds.",
                headers={"Retry-After": "5"},
            )
        with self._lock:
            self._in_flight += 1
        COMPUTE_IN_FLIGHT.inc()
        try:
            future = self._executor.submit(
                carried(functools.partial(fn, *args, **kwargs), "compute.queue_wait")
            )
        except BaseException:
            self._release()
            raise
        future.add_done_callback(lambda _: self._release())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout=self.timeout)
        except TimeoutError:
            future.cancel()
            raise ComputeTimeout(
                f"The computation took longer than {self.timeout:g} s and was abandoned; "
                "try a lighter request (fewer estimators or predictors)."
            ) from None

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1
        COMPUTE_IN_FLIGHT.dec()
        self._slots.release()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_pools: list[ComputePool] = []
"""Installed pools, latest last: several apps may live in one process (tests), each owning its own."""


def install_pool(pool: ComputePool) -> None:
    """Make `pool` the process-wide pool used by `run_cpu` (the app does this at startup)."""
    _pools.append(pool)


def uninstall_pool(pool: ComputePool) -> None:
    """Forget `pool` at its app's shutdown; the pool of an app still running serves again."""
    if pool in _pools:
        _pools.remove(pool)


def get_pool() -> ComputePool:
    """The pool the latest running app installed (the app owns it; nothing is built here)."""
    if not _pools:
        raise RuntimeError(
            "no compute pool: it is created by the app (api_app.factory.create_app) at startup"
        )
    return _pools[-1]


async def run_cpu(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn(*args, **kwargs)` on the compute pool and await its result."""
    return await get_pool().run(fn, *args, **kwargs)


_process_pools: "list[ProcessPool]" = []


def install_processes(pool: "ProcessPool") -> None:
    """Make `pool` the process-wide compute processes (the app's startup does this)."""
    _process_pools.append(pool)


def uninstall_processes(pool: "ProcessPool") -> None:
    """Forget `pool` at its app's shutdown; the processes of an app still running serve again."""
    if pool in _process_pools:
        _process_pools.remove(pool)


def installed_processes() -> "ProcessPool | None":
    """The installed compute processes, or None (never creates a pool)."""
    return _process_pools[-1] if _process_pools else None


def get_processes() -> "ProcessPool":
    """The compute processes the app's startup installed (the app owns them; nothing is built here)."""
    if not _process_pools:
        raise RuntimeError("no compute processes: they are created by the app (api_app.factory.create_app)")
    return _process_pools[-1]
