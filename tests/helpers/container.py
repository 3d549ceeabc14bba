"""The container tests' running containers and their figures (fixtures in tests/container/conftest.py)."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
import uuid

import httpx

from helpers.figures import MEASURED

IMAGE = "sids-ml-backend:container-test"
FIGURES: dict[str, object] = MEASURED.setdefault("container", {})


class Container:
    """One `docker run -d` of the image, removed afterwards."""

    def __init__(
        self, docker, image: str, *options: str, command: tuple[str, ...] = (), port: int | None = None
    ):
        self.docker = docker
        self.name = f"sids-test-{uuid.uuid4().hex[:8]}"
        self.port = port
        self.started = time.monotonic()
        docker.run("run", "-d", "--name", self.name, *options, image, *command)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def exec(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return self.docker.run("exec", self.name, *command, check=False, timeout=timeout)

    def state(self) -> dict:
        return self.docker.inspect(self.name)["State"]

    def logs(self) -> str:
        result = self.docker.run("logs", self.name, check=False)
        return result.stdout[-4000:] + result.stderr[-4000:]

    def wait_ready(self, timeout: float = 180) -> float:
        """Seconds from `docker run` to GET /health/ready answering 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health/ready", timeout=5).status_code == 200:
                    return time.monotonic() - self.started
            assert self.state()["Running"], f"container stopped:\n{self.logs()}"
            time.sleep(0.2)
        raise AssertionError(f"not ready after {timeout} s:\n{self.logs()}")

    def remove(self) -> None:
        self.docker.run("rm", "-f", self.name, check=False)


def in_background(fn, *args):
    """Run fn(*args) in a thread; returns a function that joins it and gives its result or raises."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join(timeout: float = 120):
        thread.join(timeout)
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    return join
