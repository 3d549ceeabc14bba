"""The zygote: the process compute processes are forked from (Linux), so the API process stays lean.

`ProcessPool` forks a zygote from the API process once the data is loaded. The zygote runs the
models' COMPUTE_WARMUP (it imports scikit-learn and SciPy, builds the caches computations use), then
forks a compute process whenever the API process asks over the control socket and hands back, with
`socket.send_fds`, the API end of the new process's connection and a pidfd for it: the API process
watches and kills a process that is not its child through the pidfd, without pid-reuse races. Every
compute process thus shares the loaded data and the libraries copy-on-write, and the API process
never imports what it does not compute with.

The zygote reaps its children. When the API process closes the control socket (the data changed,
another zygote takes over, or the pool shuts down) it forks no more and exits once its children
have; when the API process dies it kills its children and exits.
"""

import contextlib
import gc
import logging
import multiprocessing
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

from common.calls import Resolver, prepare_child, serve

log = logging.getLogger(__name__)

SUPPORTED = hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal") and hasattr(socket, "send_fds")
"""Whether this platform has what a zygote needs (Linux 5.3+); elsewhere the pool forks or spawns its
compute processes itself."""
CHECK_SECONDS = 0.5
"""How often the zygote checks that the API process is alive and reaps its children."""
FORK = b"f"
PID_BYTES = 32


class ZygoteGone(OSError):
    """The zygote did not answer a fork request (it died)."""


class Zygote:
    """The API side of a zygote: started by `__init__` (forked from this process), asked to `fork`."""

    def __init__(self, resolve: Resolver, warm_up: Callable[[], None] | None) -> None:
        self._control, child_end = socket.socketpair()
        context = multiprocessing.get_context("fork")
        # daemon: should this process exit without stopping the pool, multiprocessing's exit handler
        # terminates the zygote instead of waiting for it
        self.process = context.Process(
            target=_main, args=(child_end, resolve, warm_up), name="sids-zygote", daemon=True
        )
        self.process.start()
        child_end.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def fork(self) -> tuple[Connection, int, int]:
        """A new compute process: the connection to it, its pid and a pidfd (the caller closes it).
        Waits for the zygote's warm-up the first time."""
        try:
            self._control.sendall(FORK)
            message, fds, _, _ = socket.recv_fds(self._control, PID_BYTES, 2)
        except OSError as exc:
            raise ZygoteGone(f"the zygote {self.pid} is gone: {exc}") from None
        if len(fds) != 2 or not message:
            for fd in fds:
                os.close(fd)
            raise ZygoteGone(f"the zygote {self.pid} is gone")
        return Connection(fds[0]), int(message), fds[1]

    def retire(self) -> None:
        """No more forks: the zygote exits once its compute processes have; it is reaped meanwhile
        (the API process may be PID 1 of a container: nobody else would)."""
        with contextlib.suppress(OSError):
            self._control.close()
        threading.Thread(target=self.process.join, name="zygote-reaper", daemon=True).start()

    def stop(self, seconds: float) -> None:
        """Retire it and wait up to `seconds` for it to exit (its compute processes were stopped
        first), then kill it; reaped either way."""
        with contextlib.suppress(OSError):
            self._control.close()
        deadline = time.monotonic() + seconds
        while self.process.is_alive() and time.monotonic() < deadline:  # (is_alive reaps it)
            time.sleep(0.01)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


def _main(control: socket.socket, resolve: Resolver, warm_up: Callable[[], None] | None) -> None:
    api = os.getppid()
    prepare_child(keep=control.fileno())
    if warm_up is not None:
        warm_up()
    gc.collect()
    gc.freeze()  # what the warm-up built is never scanned by the compute processes either
    children: set[int] = set()
    listening = True
    while listening or children:
        if os.getppid() != api:  # the API process died: so do its compute processes
            for pid in children:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)  # our unreaped children: the pid is theirs
            for pid in children:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            return
        if listening and select.select([control], [], [], CHECK_SECONDS)[0]:
            if control.recv(1) == FORK:
                children.add(_fork_compute(control, resolve))
            else:  # closed by the API process
                control.close()
                listening = False
        elif not listening:
            time.sleep(CHECK_SECONDS)
        _reap(children)


def _fork_compute(control: socket.socket, resolve: Resolver) -> int:
    api_end, child_end = multiprocessing.Pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            control.close()
            api_end.close()
            serve(child_end, resolve)
            status = 0
        except BaseException:
            log.exception("compute process %d failed", os.getpid())
        finally:
            logging.shutdown()
            os._exit(status)
    child_end.close()
    pidfd = os.pidfd_open(pid)  # before it can be reaped (only this process reaps it)
    try:
        socket.send_fds(control, [str(pid).encode()], [api_end.fileno(), pidfd])
    except OSError:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    finally:
        api_end.close()
        os.close(pidfd)
    return pid


def _reap(children: set[int]) -> None:
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == 0:
                continue
        children.discard(pid)


class Watched:
    """A process that is not this one's child, watched and signalled through its pidfd."""

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self._pidfd: int | None = pidfd
        self._lock = threading.Lock()

    def is_alive(self) -> bool:
        with self._lock:
            if self._pidfd is None:
                return False
            poller = select.poll()
            poller.register(self._pidfd, select.POLLIN)
            return not poller.poll(0)  # a pidfd turns readable when its process exits

    def kill(self) -> None:
        with self._lock:
            if self._pidfd is not None:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def close(self) -> None:
        with self._lock:
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
