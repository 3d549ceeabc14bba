"""`python -m api_app.serve`: several server processes that share one copy of the loaded data.

`uvicorn --workers N` starts each worker as a fresh interpreter (multiprocessing's spawn), so each
imports the libraries and loads the dataset and the model store again: every worker costs about as
much memory as the first. Here one master process binds the port, builds the app, loads every
resource the mounted models need and runs their WARMUP and COMPUTE_WARMUP (library imports,
catalogues), freezes the garbage collector's view of those objects (`gc.freeze`, so collections in
the workers do not write to the shared pages), then forks WEB_CONCURRENCY workers. Each worker serves
the inherited listening socket with `uvicorn.Server` (the `GuardedHttpToolsProtocol` limits included)
and runs the app's lifespan itself: jobs, the audit writer, its own zygote and compute processes
(forked from the worker, so they share the same pages); the data the master loaded is already in
place, so its start-up only forks them. The pages stay shared copy-on-write; a worker's own memory is
what it writes after the fork. (A worker's API process thus maps the analytic libraries the master
imported, shared with every other process; with one process, `uvicorn`, they live only in the zygote.)

The master replaces a worker that exits (with a growing pause if they keep dying at once; it gives up
when a worker fails its start-up, as uvicorn does), and on SIGTERM or SIGINT sends SIGTERM to every
worker, which stops accepting, lets requests in flight finish within GRACEFUL_SHUTDOWN_SECONDS and
shuts its lifespan down; then the master exits. Workers share metric samples through
PROMETHEUS_MULTIPROC_DIR (a folder named after the master unless set); the master drops a dead
worker's live gauges. On Linux a worker whose master is killed gets SIGTERM too.

Embedded jobs live in one process, so more than one worker needs JOB_BACKEND=redis (the settings
refuse it otherwise, as for `uvicorn --workers`). Where `fork` is not available, use uvicorn.
"""

import argparse
import contextlib
import ctypes
import gc
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from common.metrics_folder import MULTIPROCESS_VARIABLE, workers_folder

if TYPE_CHECKING:
    from fastapi import FastAPI

    from api_app.discovery import WarmUpKind
    from common.settings import Settings

log = logging.getLogger("api_app.serve")

APP = "api_app:app"
HTTP_PROTOCOL = "api_app.server:GuardedHttpToolsProtocol"
STARTUP_FAILURE = 3
"""uvicorn's exit status when the app's start-up (lifespan) fails: replacing such a worker cannot help."""
POLL_SECONDS = 0.2
QUICK_EXIT_SECONDS = 10.0
"""A worker that exits sooner than this after it started counts as failing at once (the pause before
its replacement doubles, up to MAX_RESPAWN_PAUSE_SECONDS)."""
MAX_RESPAWN_PAUSE_SECONDS = 30.0
STOP_MARGIN_SECONDS = 30.0
"""How long the master waits past the graceful period for the workers' lifespans to shut down before
it kills them."""
PR_SET_PDEATHSIG = 1


@dataclass
class Worker:
    pid: int
    started: float = field(default_factory=time.monotonic)


def preload(app: "FastAPI") -> None:
    """Load, in this process, every resource the mounted models need and run their WARMUP and
    COMPUTE_WARMUP, into the app's own resource store: the workers' start-up finds them ready, and
    each worker's compute processes (forked from its zygote, forked from the worker) share the
    libraries with every other worker's. Then ask each model's HEALTH
    once (what readiness asks; the artifact models build their serving state then) and build the
    OpenAPI schema, so the workers inherit those too. A failure here is logged and left to each
    worker's start-up, which retries and reports it through readiness."""
    from common.resources import READY
    from shared_dataloader import LOADERS

    settings, discovery, store = app.state.settings, app.state.discovery, app.state.resources
    needed = sorted({name for p in discovery.mounted for name in p.required_resources})
    for name in needed:
        started = time.perf_counter()
        try:
            store.set_ready(name, LOADERS[name](settings))
            log.info("data %s loaded before forking in %.2f s", name, time.perf_counter() - started)
        except Exception:
            log.exception("data %s failed to load before forking; each worker loads it", name)
    loaded = {name for name in needed if store.state(name).state == READY}
    for package in discovery.mounted:
        if not set(package.required_resources) <= loaded:
            continue
        resources = {name: store.get(name) for name in package.required_resources}
        kinds: tuple[tuple[WarmUpKind, set[str]], ...] = (
            ("warm-up", app.state.warmed),
            ("compute warm-up", app.state.compute_warmed),
        )
        for kind, done in kinds:
            if package.warm_up(kind, resources, " before forking", "each worker tries it again"):
                done.add(package.name)
    for package in discovery.mounted:  # what a model builds on first use (artifact models: ONNX sessions)
        if package.health is not None:
            try:
                package.health(app)
            except Exception:
                log.exception("health of %s failed before forking", package.name)
    try:
        app.openapi()  # built once, on first use, then kept
    except Exception:
        log.exception("the OpenAPI schema could not be built before forking")


class Master:
    """Forks `count` workers serving `sock` with `config`, replaces those that exit, stops them on
    SIGTERM/SIGINT."""

    def __init__(
        self, config: uvicorn.Config, sock: socket.socket, count: int, on_exit: Callable[[int], None]
    ) -> None:
        self.config = config
        self.sock = sock
        self.count = count
        self.on_exit = on_exit
        self.workers: dict[int, Worker] = {}
        self.stopping = False
        self.failed = False
        self.pause = 0.0
        self.next_fork = 0.0

    def _signalled(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("master got %s: stopping the workers", signal.Signals(signum).name)
        self.stopping = True

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._signalled)
        while len(self.workers) < self.count:
            self._fork()
        while not self.stopping:
            self._reap()
            if not self.stopping and len(self.workers) < self.count and time.monotonic() >= self.next_fork:
                self._fork()
            time.sleep(POLL_SECONDS)
        self._stop()
        return 1 if self.failed else 0

    def _fork(self) -> None:
        threads = threading.active_count()
        if threads > 1:
            log.warning("forking with %d threads running; their locks may be held in the worker", threads)
        master = os.getpid()
        pid = os.fork()
        if pid == 0:
            self._serve_in_worker(master)  # never returns
        self.workers[pid] = Worker(pid)
        log.info("worker [%d] started", pid)

    def _serve_in_worker(self, master: int) -> None:
        status = 1
        try:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_DFL)
            _die_with(master)
            server = uvicorn.Server(self.config)
            server.run(sockets=[self.sock])
            status = 0 if server.started else STARTUP_FAILURE
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        except BaseException:
            log.exception("worker [%d] failed", os.getpid())
        finally:
            logging.shutdown()
            os._exit(status)

    def _reap(self) -> None:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            self.on_exit(pid)
            code = os.waitstatus_to_exitcode(status)
            if self.stopping:
                continue
            if code == STARTUP_FAILURE:
                log.error("worker [%d] failed its start-up; stopping", pid)
                self.failed = self.stopping = True
                return
            quick = time.monotonic() - worker.started < QUICK_EXIT_SECONDS
            self.pause = min(max(2 * self.pause, 0.5), MAX_RESPAWN_PAUSE_SECONDS) if quick else 0.0
            self.next_fork = time.monotonic() + self.pause
            log.warning("worker [%d] exited (%s); replacing it", pid, _describe(code))

    def _stop(self) -> None:
        self.sock.close()  # once the workers close theirs too, new connections are refused
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        graceful = self.config.timeout_graceful_shutdown
        deadline = None if graceful is None else time.monotonic() + graceful + STOP_MARGIN_SECONDS
        while self.workers and (deadline is None or time.monotonic() < deadline):
            self._reap()
            time.sleep(POLL_SECONDS / 4)
        for pid in list(self.workers):
            log.error("worker [%d] did not stop in time; killed", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            self.on_exit(pid)
        self.workers.clear()
        log.info("master [%d] stopped", os.getpid())


def drop_live_gauges(pid: int) -> None:
    """What the master does when a worker is gone: drop its live gauges from the metrics folder."""
    from common.metrics_folder import multiprocess_mode

    if multiprocess_mode():
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid)


def _describe(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}"


def _die_with(master: int) -> None:
    """Linux: SIGTERM this process when `master`, its parent, dies (it forked from its only thread)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != master:  # the master died before the line above
            os._exit(1)


def _metrics_folder() -> Path | None:
    """Set PROMETHEUS_MULTIPROC_DIR for the workers (before anything imports prometheus_client): the
    folder named after this master, created empty; None when the variable was already set."""
    if os.environ.get(MULTIPROCESS_VARIABLE):
        return None
    folder = workers_folder(os.getpid())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROCESS_VARIABLE] = str(folder)
    return folder


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m api_app.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: PORT (8000)")
    parser.add_argument("--workers", type=int, default=None, help="default: WEB_CONCURRENCY (1)")
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    parser.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="trust X-Forwarded-* from --forwarded-allow-ips (on, as in uvicorn)",
    )
    parser.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    parser.add_argument(
        "--timeout-graceful-shutdown",
        type=float,
        default=None,
        help="seconds requests in flight get after SIGTERM (default: GRACEFUL_SHUTDOWN_SECONDS, else no limit)",
    )
    parser.add_argument("--log-level", default=None, help="uvicorn's log level (default: LOG_LEVEL)")
    return parser.parse_args(argv)


def _config(args: argparse.Namespace, settings: "Settings") -> uvicorn.Config:
    graceful = args.timeout_graceful_shutdown or settings.graceful_shutdown_seconds
    return uvicorn.Config(
        APP,
        host=args.host,
        port=args.port or settings.port,
        loop=args.loop,
        http=HTTP_PROTOCOL,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        server_header=False,
        # uvicorn types it int (its CLI takes whole seconds) but only hands it to asyncio.wait_for.
        timeout_graceful_shutdown=graceful,  # type: ignore[arg-type]
        log_level=(args.log_level or settings.log_level).lower(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    if args.workers is not None:
        os.environ["WEB_CONCURRENCY"] = str(args.workers)  # the settings check it (local jobs)
    own_folder = _metrics_folder()
    try:
        from pydantic import ValidationError

        from common.settings import get_settings

        try:
            settings = get_settings()
        except ValidationError as exc:
            print(exc, file=sys.stderr)
            return 2
        config = _config(args, settings)  # configures uvicorn's logging, as `uvicorn` does first
        sock = config.bind_socket()
        gc.disable()  # no collections (and holes in the shared pages) while the data loads
        import api_app

        preload(api_app.app)
        gc.collect()
        gc.freeze()  # what exists now is never traversed by the workers' collections
        gc.enable()
        log.info("master [%d] forks %d worker(s)", os.getpid(), settings.web_concurrency)
        return Master(config, sock, settings.web_concurrency, drop_live_gauges).run()
    finally:
        if own_folder is not None:
            shutil.rmtree(own_folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
