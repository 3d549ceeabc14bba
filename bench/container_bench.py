"""Image size and cold start of the container image, built as the container tests build it.

    python bench/container_bench.py [--runs 3]

Starts a private dockerd (host networking only; tests/helpers/docker_engine.py), builds the
image from the Dockerfile on the cached local Debian bookworm base (PYTHON_IMAGE to use another
base already in the engine), then runs it `--read-only --tmpfs /tmp` with every model on the bundled
dataset, `--runs` times: seconds from `docker run` to GET /health/live and to GET /health/ready
answering 200. Prints the image size, the build time and the medians. Needs root.
"""

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]  # the app's packages and the tests' helpers

from helpers import docker_engine  # noqa: E402  (the tests' engine helpers)
from helpers.servers import free_port  # noqa: E402

IMAGE = "sids-ml-backend:bench"


def cold_start(docker: docker_engine.Engine) -> tuple[float, float]:
    port, name = free_port(), f"sids-bench-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    docker.run(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "-e",
        "HOST=127.0.0.1",
        "-e",
        f"PORT={port}",
        IMAGE,
    )
    live = None
    try:
        while time.monotonic() - started < 300:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2)
                live = live or time.monotonic() - started
                if response.status_code == 200:
                    return live, time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("not ready after 300 s")
    finally:
        docker.run("rm", "-f", name, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with docker_engine.engine() as docker:
        docker_engine.build_image(docker, REPO_ROOT, IMAGE)
        runs = [cold_start(docker) for _ in range(args.runs)]
        print(f"image {docker.figures['image size (MB)']} MB, build {docker.figures['image build (s)']} s")
        print(
            f"cold start, median of {args.runs}: live {statistics.median(r[0] for r in runs):.1f} s, "
            f"ready {statistics.median(r[1] for r in runs):.1f} s (every model, bundled dataset)"
        )


if __name__ == "__main__":
    main()
