"""Queue workers and Redis servers of the tests' own, started and killed as real processes."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from common.settings import REPO_ROOT
from helpers.servers import free_port

WORKER_RECOVERY_SECONDS = 3


class PrivateRedis:
    """A redis-server of the test's own, to kill, stop (SIGSTOP) and continue."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.ConnectionError):
                redis.Redis.from_url(self.url).ping()
                return
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.process.poll() is None:
            self.resume()
            self.kill()


def start_worker(
    redis_url: str, *args: str, pythonpath: tuple[str, ...] = (), **env: str
) -> subprocess.Popen:
    """A real `python -m api_app.worker` on the test Redis (MODEL_SERVICE=sampleapi unless given)."""
    environment = {
        **os.environ,
        "JOB_BACKEND": "redis",
        "REDIS_URL": redis_url,
        "MODEL_SERVICE": "sampleapi",
        "WORKER_RECOVERY_SECONDS": str(WORKER_RECOVERY_SECONDS),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *pythonpath]),
        **env,
    }
    return subprocess.Popen([sys.executable, "-m", "api_app.worker", *args], cwd=REPO_ROOT, env=environment)


def children(pid: int) -> list[int]:
    """Direct child processes of `pid` (a worker's forked work horses)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def stop_worker(process: subprocess.Popen) -> None:
    """SIGKILL a worker, then its children (work horses, or a pool's workers, which the dead pool
    can no longer respawn)."""
    if process.poll() is None:
        doomed = children(process.pid)
        process.kill()
        for child in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
    process.wait(timeout=10)
