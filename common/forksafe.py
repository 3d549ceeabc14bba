"""A lock that a forked child gets back released.

The API process forks its zygote (and the zygote its compute processes, `python -m api_app.serve` its
workers, rq its work horses) from one thread while others run. A `threading.Lock` another thread held
at that moment stays held in the child forever (that thread does not exist there), and the first
call that needs it hangs: a compute process once blocked in `IndicatorDataset`'s table cache that way.
`Lock` is released in every child right after a fork (`os.register_at_fork`). Use it for the state
that forked processes read, guarded only in critical sections that leave it consistent between any
two bytecodes (a dict lookup, an insert, an LRU reorder), so the child may use what it inherited.
"""

import os
import threading
import weakref
from types import TracebackType


class Lock:
    """A `threading.Lock` (`with`, `acquire`, `release`) that is new and free in a forked child."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        _locks.add(self)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._lock.release()

    def _renew(self) -> None:
        self._lock = threading.Lock()


_locks: "weakref.WeakSet[Lock]" = weakref.WeakSet()


def _renew_all() -> None:
    for lock in list(_locks):
        lock._renew()


os.register_at_fork(after_in_child=_renew_all)
