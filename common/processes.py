"""Model computations in persistent compute processes that can be stopped.

A `ProcessPool` keeps up to `workers` compute processes; each runs one call at a time and stays up
between calls, so what a model caches in its process (imputed matrices, catalogues) serves the
next call. On Linux they are forked from a zygote (`common.zygote`), itself forked from the API
process once its data is loaded, that ran the models' COMPUTE_WARMUP: they share the loaded
DataFrames and the libraries copy-on-write and never parse the CSVs again, while the API process
never imports the libraries. Where the platform can fork but has no pidfd (macOS) they are forked
from the API process itself, and COMPUTE_WARMUP runs there. Elsewhere (Windows) they are spawned
and load the data they are asked for once each.

A call that overruns its time limit or is cancelled has its process killed and replaced at once;
the other processes, and their caches, are untouched.

Two lanes of processes, forked alike: `workers` general ones, and `scoring_workers` reserved for
calls marked `quick` (scoring a batch with a pipeline the API process does not load: milliseconds),
so that such a call never waits behind long model computations. A quick call takes a free reserved
process, else a free general one, else the first of either to come free; a general call only ever
takes a general process. Quick calls have their own admission (`scoring_workers + queue_size`), so a
full general queue does not refuse them. Without reserved processes (`scoring_workers=0`) quick calls
are general calls.

One call travels as a `common.calls.Call` envelope (function by dotted path, request body, name of
the data, `context`); the child answers with the result as JSON bytes or the error as data
(`common.jobs.types.error_payload`), plus progress messages on the way.
"""

import asyncio
import contextlib
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for_any
from multiprocessing.process import BaseProcess
from typing import Any

from common import zygote
from common.calls import Call, DataLoader, Resolver, execute, run_outbox, serve
from common.errors import ComputeTimeout, Overloaded, Unavailable
from common.jobs.types import Cancelled, JobFailed
from common.metrics import COMPUTE_BUSY, COMPUTE_IN_FLIGHT, COMPUTE_PROCESSES_REPLACED
from common.progress import Progress
from common.zygote import Watched, Zygote, ZygoteGone

__all__ = ["GENERAL", "SCORING", "Call", "DataLoader", "ProcessPool"]

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
"""How often a waiting call checks its time limit and cancellation."""
STOP_GRACE_SECONDS = 2.0
GENERAL = "general"
"""The lane of every computation."""
SCORING = "scoring"
"""The lane reserved for quick scoring calls (`ProcessPool.run(..., quick=True)`)."""


class ComputeProcess:
    """A compute process as the API process sees it: the connection to it, and a handle to tell
    whether it is alive and to kill it (a child of this process, or one a zygote forked)."""

    def __init__(self, conn: Connection, handle: "BaseProcess | Watched", generation: int, lane: str) -> None:
        self.conn = conn
        self.handle = handle
        self.generation = generation
        self.lane = lane
        self._released = False
        self._release_lock = threading.Lock()

    @classmethod
    def started(cls, context: Any, resolve: Resolver, generation: int, lane: str) -> "ComputeProcess":
        """A child of this process (forked or spawned by multiprocessing)."""
        conn, child_end = context.Pipe()
        process = context.Process(target=serve, args=(child_end, resolve), name="sids-compute")
        process.start()
        child_end.close()
        return cls(conn, process, generation, lane)

    @classmethod
    def forked_by(cls, zygote: Zygote, generation: int, lane: str) -> "ComputeProcess":
        conn, pid, pidfd = zygote.fork()
        return cls(conn, Watched(pid, pidfd), generation, lane)

    @property
    def pid(self) -> int:
        pid = self.handle.pid
        if pid is None:  # a multiprocessing process before its start; `started` starts it
            raise RuntimeError("the compute process was not started")
        return pid

    def is_alive(self) -> bool:
        return self.handle.is_alive()

    def _exited(self, seconds: float) -> bool:
        """Whether the process ends within `seconds` (polled: a child's sentinel closes with the
        descriptors the child drops at start, so `join` cannot be used)."""
        deadline = time.monotonic() + seconds
        while self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.is_alive()

    def _release(self) -> None:
        """Close the connection and the pidfd, once (a shutdown may kill a busy process while its
        call replaces it: a second close could hit a descriptor reused meanwhile)."""
        with self._release_lock:
            if self._released:
                return
            self._released = True
        self.conn.close()
        if isinstance(self.handle, Watched):
            self.handle.close()

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.handle.kill()
        self._exited(5)
        self._release()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        if not self._exited(STOP_GRACE_SECONDS):
            self.kill()
        self._release()


class ProcessPool:
    """At most `workers` computations at once, in as many persistent processes, and at most
    `queue_size` more waiting for one; beyond that `Overloaded` (503) at once. Plus `scoring_workers`
    processes reserved for quick calls, which have an admission of their own (module docstring).

    `isolation="thread"` runs calls on threads of this process instead (for platforms where
    processes are unwanted): the same interface, but an overrun or cancelled computation can then
    only stop at its next progress report.

    With `start_method="fork"` where `common.zygote.SUPPORTED`, the processes are forked by a zygote
    (`refresh` forks a new one from this process); `warm_up` says what it runs first.
    """

    def __init__(
        self,
        workers: int,
        queue_size: int,
        resolve: Resolver,
        isolation: str = "process",
        start_method: str | None = None,
        scoring_workers: int = 0,
    ) -> None:
        self.workers = workers
        self.scoring_workers = scoring_workers
        self.isolation = isolation
        self.resolve = resolve
        self._context = multiprocessing.get_context(start_method) if isolation == "process" else None
        self.uses_zygote = isolation == "process" and start_method == "fork" and zygote.SUPPORTED
        self._zygote: Zygote | None = None
        self._retired: list[Zygote] = []
        self._compute_warm_up: Callable[[], None] | None = None
        self._admission = threading.BoundedSemaphore(workers + queue_size)
        self._quick_admission = (
            threading.BoundedSemaphore(scoring_workers + queue_size) if scoring_workers else self._admission
        )
        calls = workers + queue_size + (scoring_workers + queue_size if scoring_workers else 0)
        self._threads = ThreadPoolExecutor(calls, thread_name_prefix="compute-call")
        self._capacity = {GENERAL: workers, SCORING: scoring_workers}
        self._free = dict(self._capacity)
        self._slot_freed = threading.Condition()
        self._idle: dict[str, list[ComputeProcess]] = {GENERAL: [], SCORING: []}
        self._busy: set[ComputeProcess] = set()
        self._lock = threading.Lock()
        self._fork_lock = threading.Lock()
        self._generation = 0
        self._in_flight = 0
        self._closed = False

    @property
    def in_flight(self) -> int:
        """Calls running or waiting for a process."""
        return self._in_flight

    def pids(self, lane: str | None = None) -> list[int]:
        """The pids of the compute processes (of one lane)."""
        with self._lock:
            return [p.pid for p in (*self._all_idle(), *self._busy) if lane in (None, p.lane)]

    def _all_idle(self) -> list[ComputeProcess]:
        return [process for idle in self._idle.values() for process in idle]

    def _missing_lane(self) -> str | None:
        """A lane with fewer processes than its capacity (call with the lock held)."""
        for lane, capacity in self._capacity.items():
            held = len(self._idle[lane]) + sum(p.lane == lane for p in self._busy)
            if held < capacity:
                return lane
        return None

    def refresh(self, prestart: bool = True) -> None:
        """The data changed (loaded): processes forked before are replaced as they come free; with
        `prestart`, fresh idle processes are started now so the first calls pay no start-up."""
        if self.isolation != "process":
            return
        with self._fork_lock:
            with self._lock:
                self._generation += 1
                stale = [p for p in self._all_idle() if p.generation != self._generation]
                for name, idle in self._idle.items():
                    self._idle[name] = [p for p in idle if p.generation == self._generation]
            if self.uses_zygote and not self._closed:
                self._new_zygote()
        for process in stale:
            process.stop()
        while prestart and not self._closed:
            with self._lock:
                missing = self._missing_lane()
            if missing is None:
                break
            process = self._start(missing)
            with self._lock:
                closed = self._closed
                if not closed:
                    self._idle[missing].append(process)
            if closed:  # shut down while this one was starting: it would outlive the pool
                process.stop()
                break

    def warm_up(self, fn: Callable[[], None]) -> None:
        """Run `fn` (the models' COMPUTE_WARMUP) where the compute processes are forked from, then
        replace them so that they inherit what it built: in the zygote (this one and every later
        one: `refresh` after the data changed runs it again) when there is one, here otherwise."""
        if self.uses_zygote:
            self._compute_warm_up = fn
        else:
            fn()
        self.refresh()

    def _new_zygote(self) -> Zygote:
        """Fork a zygote from this process (with the data as it is now); retire the previous one."""
        previous, self._zygote = self._zygote, Zygote(self.resolve, self._compute_warm_up)
        if previous is not None:
            previous.retire()
            self._retired = [z for z in self._retired if z.process.is_alive()] + [previous]
        return self._zygote

    def _start(self, lane: str) -> ComputeProcess:
        with self._fork_lock:
            if not self.uses_zygote:
                return ComputeProcess.started(self._context, self.resolve, self._generation, lane)
            current = self._zygote or self._new_zygote()
            try:
                return ComputeProcess.forked_by(current, self._generation, lane)
            except ZygoteGone as exc:
                log.warning("%s; forking another", exc)
                return ComputeProcess.forked_by(self._new_zygote(), self._generation, lane)

    async def run(
        self,
        call: Call,
        timeout: float,
        progress: Progress | None = None,
        cancelled: threading.Event | None = None,
        started: Callable[[], None] | None = None,
        quick: bool = False,
    ) -> bytes:
        """The call's result (JSON bytes). `ComputeTimeout` past `timeout` seconds from now (waiting
        included), `Cancelled` once `cancelled` is set; either way the computation is stopped.
        `started()` is called when the call gets its process. `quick`: a short scoring call, which
        may use the reserved processes (module docstring)."""
        admission = self._quick_admission if quick else self._admission
        if not admission.acquire(blocking=False):
            raise Overloaded(
                "The server is busy with other computations; retry in a few seconds.",
                headers={"Retry-After": "5"},
            )
        with self._lock:
            self._in_flight += 1
        COMPUTE_IN_FLIGHT.inc()
        cancelled = cancelled or threading.Event()
        deadline = time.monotonic() + timeout
        try:
            lanes = (SCORING, GENERAL) if quick else (GENERAL,)
            future = asyncio.get_running_loop().run_in_executor(
                self._threads,
                self._call,
                call,
                lanes,
                admission,
                progress,
                cancelled,
                deadline,
                timeout,
                started,
            )
        except BaseException:
            self._leave(admission)
            raise
        try:
            if self.isolation == "process":
                return await asyncio.shield(future)
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            cancelled.set()
            future.add_done_callback(_ignore_outcome)
            raise _timeout(timeout, started=True) from None
        except asyncio.CancelledError:
            cancelled.set()
            future.add_done_callback(_ignore_outcome)
            raise

    def _leave(self, admission: threading.BoundedSemaphore) -> None:
        with self._lock:
            self._in_flight -= 1
        COMPUTE_IN_FLIGHT.dec()
        admission.release()

    def _call(
        self,
        call: Call,
        lanes: tuple[str, ...],
        admission: threading.BoundedSemaphore,
        progress: Progress | None,
        cancelled: threading.Event,
        deadline: float,
        timeout: float,
        started: Callable[[], None] | None,
    ) -> bytes:
        try:
            lane = self._wait_for_slot(lanes, cancelled, deadline, timeout)
            try:
                if started is not None:
                    started()
                if self.isolation == "process":
                    return self._call_process(call, lane, progress, cancelled, deadline, timeout)
                return self._call_here(call, progress, cancelled)
            finally:
                self._free_slot(lane)
        finally:
            self._leave(admission)

    def _wait_for_slot(
        self, lanes: tuple[str, ...], cancelled: threading.Event, deadline: float, timeout: float
    ) -> str:
        """Take a slot of the first of `lanes` that has one free, waiting for one to come free; its lane."""
        with self._slot_freed:
            while True:
                for lane in lanes:
                    if self._free[lane]:
                        self._free[lane] -= 1
                        COMPUTE_BUSY.labels(lane).inc()
                        return lane
                if cancelled.is_set():
                    raise Cancelled()
                if time.monotonic() > deadline:
                    raise _timeout(timeout, started=False)
                if self._closed:
                    raise Unavailable("The server is shutting down; retry on another instance.")
                self._slot_freed.wait(POLL_SECONDS)

    def _free_slot(self, lane: str) -> None:
        COMPUTE_BUSY.labels(lane).dec()
        with self._slot_freed:
            self._free[lane] += 1
            self._slot_freed.notify_all()  # a quick call may wait for either lane

    def _call_here(self, call: Call, progress: Progress | None, cancelled: threading.Event) -> bytes:
        def report(*args: Any) -> None:
            if cancelled.is_set():
                raise Cancelled()
            if progress is not None:
                progress(*args)

        return execute(call, self.resolve, report)

    def _take(self, lane: str) -> ComputeProcess:
        with self._lock:
            idle = self._idle[lane]
            while idle:
                process = idle.pop()
                if process.is_alive() and process.generation == self._generation:
                    self._busy.add(process)
                    return process
                threading.Thread(target=process.stop, daemon=True).start()
        process = self._start(lane)
        with self._lock:
            self._busy.add(process)
        return process

    def _give_back(self, process: ComputeProcess) -> None:
        with self._lock:
            self._busy.discard(process)
            if not self._closed and process.generation == self._generation:
                self._idle[process.lane].append(process)
                return
            closed = self._closed
        if closed:
            process.stop()
        else:  # forked before the data changed: stopped without delaying the answer
            threading.Thread(target=process.stop, daemon=True).start()

    def _replace(self, process: ComputeProcess, reason: str) -> None:
        """Kill the process and start its successor, before the slot is given back."""
        with self._lock:
            self._busy.discard(process)
        process.kill()
        COMPUTE_PROCESSES_REPLACED.labels(reason, process.lane).inc()
        log.warning(
            "compute process %s (%s lane) stopped (%s) and replaced", process.pid, process.lane, reason
        )
        if self._closed:
            return
        successor = self._start(process.lane)
        with self._lock:
            self._idle[process.lane].append(successor)

    def _call_process(
        self,
        call: Call,
        lane: str,
        progress: Progress | None,
        cancelled: threading.Event,
        deadline: float,
        timeout: float,
    ) -> bytes:
        process = self._take(lane)
        try:
            process.conn.send(call)
        except (OSError, ValueError):
            self._replace(process, "crashed")
            raise Unavailable(
                "A compute process could not take the computation; retry.", headers={"Retry-After": "1"}
            ) from None
        while True:
            # (not the process sentinel: the child closes the descriptors it inherited, that one too)
            ready = wait_for_any([process.conn], timeout=POLL_SECONDS)
            if ready or not process.is_alive():
                try:
                    message = process.conn.recv() if ready else None
                except (EOFError, OSError):
                    message = None
                if message is None:
                    self._replace(process, "crashed")
                    raise Unavailable(
                        "The compute process running this computation stopped "
                        "unexpectedly (out of memory?); retry, or send a lighter request."
                    )
                if message[0] == "progress":
                    if progress is not None:
                        try:
                            progress(*message[1:])
                        except Cancelled:
                            cancelled.set()
                        except Exception:
                            log.exception("progress callback failed")
                else:
                    self._give_back(process)
                    kind, value, outbox = message
                    run_outbox(outbox)
                    if kind == "ok":
                        answer: bytes = value
                        return answer
                    raise JobFailed(value)
            if cancelled.is_set():
                self._replace(process, "cancelled")
                raise Cancelled()
            if time.monotonic() > deadline:
                self._replace(process, "timeout")
                raise _timeout(timeout, started=True)

    def shutdown(self) -> None:
        self._closed = True
        with self._lock:
            idle = self._all_idle()
            self._idle = {lane: [] for lane in self._idle}
            busy = list(self._busy)
        for process in idle:
            process.stop()
        for process in busy:
            process.kill()
        with self._fork_lock:
            zygotes = [*self._retired, *([self._zygote] if self._zygote is not None else [])]
            self._zygote, self._retired = None, []
        for retiring in zygotes:  # their compute processes are gone: they exit at once
            retiring.stop(STOP_GRACE_SECONDS)
        self._threads.shutdown(wait=False, cancel_futures=True)


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    """The outcome of a call nobody waits for any more (its caller was cancelled)."""
    if not future.cancelled():
        future.exception()


def _timeout(limit: float, started: bool) -> ComputeTimeout:
    if not started:
        return ComputeTimeout(
            f"No compute process came free within the {limit:g} s limit (the server is "
            "busy); retry later or send the request as a job (`Prefer: respond-async`).",
            headers={"Retry-After": "10"},
        )
    return ComputeTimeout(
        f"The computation took longer than {limit:g} s and was stopped; try a lighter "
        "request (fewer estimators or predictors), or send it as a job "
        "(`Prefer: respond-async`), which has a longer limit."
    )
