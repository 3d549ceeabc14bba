"""One model computation as data (`Call`), and how a compute process runs it (`serve`).

`Call.context` carries what the parent wants the child to see (trace context): register a
`capture` (runs in the parent, returns a dict of strings) and a `restore` (a context manager
entered in the child around the call) with `register_context`. `in_parent(fn, *args)` lets code
running in a compute process have `fn(*args)` run in the API process once the call returns.
"""

import contextlib
import gc
import io
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from common.jobs.types import dotted, error_payload, import_dotted, invoke, to_json
from common.progress import Progress

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.05
"""Seconds between two progress messages of one stage from a compute process."""

JOB_ID = "job_id"
"""The key of `Call.context` naming the job a call is for."""
Resolver = Callable[[str], Any]


@dataclass(frozen=True)
class Call:
    """The envelope of one computation: what a compute process needs to run it."""

    func: str
    body: Any
    data: str | None = None
    context: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, fn: Callable[..., Any], body: Any, data: str | None = None, job_id: str | None = None
    ) -> "Call":
        """The call of `fn(body, data)`; `job_id` when it is a job's (an unexpected error names it)."""
        context = capture_context()
        if job_id is not None:
            context[JOB_ID] = job_id
        return cls(dotted(fn), body, data, context)


ContextHook = tuple[Callable[[], dict[str, str]], Callable[[dict[str, str]], AbstractContextManager[Any]]]
_context_hooks: list[ContextHook] = []


def register_context(
    capture: Callable[[], dict[str, str]], restore: Callable[[dict[str, str]], AbstractContextManager[Any]]
) -> None:
    """`capture()` runs in the parent when a call is made and its dict travels in `Call.context`;
    `restore(context)` is entered in the compute process around the call. Registering the same
    pair again changes nothing."""
    if (capture, restore) not in _context_hooks:
        _context_hooks.append((capture, restore))


def capture_context() -> dict[str, str]:
    context: dict[str, str] = {}
    for capture, _ in _context_hooks:
        context.update(capture())
    return context


class _ChildState(threading.local):
    outbox: list[tuple[str, tuple[Any, ...]]] | None = None


_child = _ChildState()


def in_parent(fn: Callable[..., Any], *args: Any) -> None:
    """Run `fn(*args)` in the API process: now when called there, after the call in a compute process
    (`fn` must be a module-level function and `args` picklable)."""
    if _child.outbox is None:
        fn(*args)
    else:
        _child.outbox.append((dotted(fn), args))


def in_compute_process() -> bool:
    """Whether this code runs in a call served by a compute process (`serve`), rather than in the
    process that sends the calls."""
    return _child.outbox is not None


def run_outbox(outbox: list[tuple[str, tuple[Any, ...]]]) -> None:
    for name, args in outbox:
        try:
            import_dotted(name)(*args)
        except Exception:
            log.exception("in_parent call %s failed", name)


class _ChildProgress:
    """Progress callback of a compute process: messages to the parent, at most every 0.05 s per stage."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._stage: str | None = None
        self._sent = 0.0

    def __call__(
        self, stage: str, fraction: float, done: int | None = None, total: int | None = None
    ) -> None:
        now = time.monotonic()
        if stage == self._stage and fraction < 1 and now - self._sent < PROGRESS_INTERVAL:
            return
        self._stage, self._sent = stage, now
        self.conn.send(("progress", stage, fraction, done, total))


@contextlib.contextmanager
def _restored(context: dict[str, str]) -> Iterator[None]:
    """The parent's context, entered with every registered `restore`."""
    with contextlib.ExitStack() as stack:
        for _, restore in _context_hooks:
            stack.enter_context(restore(context))
        yield


def _compute(call: Call, resolve: Resolver, progress: Progress | None) -> bytes:
    data = resolve(call.data) if call.data else None
    return to_json(invoke(import_dotted(call.func), call.body, data, progress))


def execute(call: Call, resolve: Resolver, progress: Progress | None) -> bytes:
    """Run a call here: the function's result as JSON bytes."""
    with _restored(call.context):
        return _compute(call, resolve, progress)


def _answer(call: Call, resolve: Resolver, progress: Progress | None) -> tuple[str, Any]:
    """A compute process's answer to a call: its result, or its error as data (converted, and an
    unexpected one logged, in the caller's context: the log line and the answer name its request)."""
    with _restored(call.context):
        try:
            return "ok", _compute(call, resolve, progress)
        except BaseException as exc:
            return "error", error_payload(exc, call.context.get(JOB_ID, ""))


def _close_inherited_files(keep: set[int]) -> None:
    """Close what a forked child inherited from the API process (its listening socket, client
    connections, event-loop pipes): held open here, they would keep a connection alive after the
    API process closed it, and the port open after it stopped listening."""
    try:
        descriptors = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc (macOS)
        descriptors = list(range(3, 4096))
    for descriptor in descriptors:
        if descriptor > 2 and descriptor not in keep:
            with contextlib.suppress(OSError):
                os.close(descriptor)


def _has_descriptor(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _log_handlers() -> list[logging.Handler]:
    loggers = (logging.getLogger(), *logging.Logger.manager.loggerDict.values())
    return [handler for logger in loggers for handler in getattr(logger, "handlers", ())]


def _log_descriptors() -> set[int]:
    """Descriptors of the standard streams and of the logging handlers' streams: a child keeps them
    open so that its log lines still reach them (a stream may be a file above 2: a test's capture)."""
    streams = [sys.stdout, sys.stderr, *(getattr(handler, "stream", None) for handler in _log_handlers())]
    return {stream.fileno() for stream in streams if stream is not None and _has_descriptor(stream)}


_inherited_streams: list[Any] = []
"""The streams a forked child replaced, kept so that they are never finalized: that would flush them,
taking a lock a thread of the parent may have held at the fork (and writing the parent's pending text)."""


def renew_inherited_streams() -> None:
    """New stream objects on the same descriptors, in a forked child, for the standard streams
    (`sys.stdout`, `sys.stderr` and their originals) and for every logging handler's stream.

    A thread of the parent may have held an inherited stream's buffer lock at the fork (it was writing
    a log line); no thread of the child would ever release it, so the child's first line through it
    (or `logging.shutdown`'s flush) would hang. A stream without a descriptor (a test's capture in
    memory) is kept. Handlers get their new stream directly: `setStream` would flush the old one."""
    renewed: dict[int, Any] = {}

    def renew(old: Any) -> Any:
        if id(old) not in renewed:
            renewed[id(old)] = old
            if _has_descriptor(old):
                renewed[id(old)] = io.TextIOWrapper(
                    io.FileIO(old.fileno(), "w", closefd=False),
                    encoding=getattr(old, "encoding", None) or "utf-8",
                    errors="backslashreplace",
                    line_buffering=True,
                )
                _inherited_streams.append(old)
        return renewed[id(old)]

    for name in ("stdout", "stderr", "__stdout__", "__stderr__"):
        if (stream := getattr(sys, name, None)) is not None:
            setattr(sys, name, renew(stream))
    for handler in _log_handlers():
        if isinstance(handler, logging.StreamHandler) and handler.stream is not None:
            handler.stream = renew(handler.stream)


def prepare_child(keep: int) -> None:
    """What a process forked from the API process does first: drop the parent's wakeup pipe, streams
    and descriptors (all but `keep`), leave Ctrl-C to the parent, and never scan the inherited objects."""
    signal.set_wakeup_fd(-1)  # the parent's event loop wakeup pipe is not ours
    renew_inherited_streams()
    _close_inherited_files(keep={keep, *_log_descriptors()})
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    gc.freeze()  # the inherited objects are never scanned (scanning would copy their pages)


def serve(conn: Any, resolve: Resolver) -> None:
    """Main loop of a compute process: one call after the other until told to stop or orphaned."""
    prepare_child(keep=conn.fileno())
    parent = os.getppid()
    while True:
        while not conn.poll(1.0):
            if os.getppid() != parent:
                return
        try:
            call = conn.recv()
        except EOFError:
            return
        if call is None:
            return
        _child.outbox = []
        answer = _answer(call, resolve, _ChildProgress(conn))
        conn.send((*answer, _child.outbox))
        _child.outbox = None


class DataLoader:
    """Resolver of a spawned compute process: loads each named data set once (no fork to inherit it)."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._loaded: dict[str, Any] = {}

    def __call__(self, name: str) -> Any:
        if name not in self._loaded:
            from shared_dataloader import LOADERS

            self._loaded[name] = LOADERS[name](self.settings)
        return self._loaded[name]
