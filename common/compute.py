"""Run CPU-heavy work off the event loop, bounded and with a time limit.

Two lanes:
- `get_processes().run(call, ...)`: a model's main computation (a `common.calls.Call`) in a
  persistent compute process that is killed and replaced when it overruns or is cancelled
  (`common.processes`); `run_model` sends every main endpoint's work there.
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


_pool: ComputePool | None = None


def install_pool(pool: ComputePool | None) -> None:
    """Make `pool` the process-wide pool used by `run_cpu` (the app does this at startup)."""
    global _pool
    _pool = pool


def get_pool() -> ComputePool:
    global _pool
    if _pool is None:
        from common.settings import get_settings

        settings = get_settings()
        _pool = ComputePool(
            settings.compute_workers, settings.compute_queue_size, settings.compute_timeout_seconds
        )
    return _pool


async def run_cpu(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn(*args, **kwargs)` on the compute pool and await its result."""
    return await get_pool().run(fn, *args, **kwargs)


_processes: "ProcessPool | None" = None


def install_processes(pool: "ProcessPool | None") -> None:
    """Make `pool` the process-wide compute processes (the app's startup does this)."""
    global _processes
    _processes = pool


def installed_processes() -> "ProcessPool | None":
    """The installed compute processes, or None (never creates a pool)."""
    return _processes


def get_processes() -> "ProcessPool":
    global _processes
    if _processes is None:
        from common.processes import DataLoader, ProcessPool
        from common.settings import get_settings

        settings = get_settings()
        _processes = ProcessPool(
            settings.compute_workers,
            settings.compute_queue_size,
            DataLoader(settings),
            settings.effective_compute_isolation,
        )
    return _processes
