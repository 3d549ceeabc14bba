"""Startup time to ready and idle resident memory of the server (every model by default), bundled data.

    python bench/platform_startup.py [--runs 3] [--model-service twolvlImp,CountryCorrelation,...]

Starts `uvicorn api_app:app` (one worker) in a fresh process each run, polls /health/ready until 200,
then reads the process's resident memory (VmRSS) once it is idle. Prints the median of the runs.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def one_run(model_service: str) -> tuple[float, float, list[str]]:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api_app:app", "--port", str(port), "--log-level", "warning"],
        cwd=REPO_ROOT,
        env={**os.environ, "MODEL_SERVICE": model_service},
    )
    try:
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1)
                if response.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.perf_counter() - started > 120:
                raise RuntimeError("server did not become ready")
            time.sleep(0.02)
        ready = time.perf_counter() - started
        models = httpx.get(f"http://127.0.0.1:{port}/").json()["models"]
        time.sleep(2)
        return ready, rss_mib(process.pid), models
    finally:
        process.terminate()
        process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--model-service", default="", help="MODEL_SERVICE of the server (default: every model)"
    )
    args = parser.parse_args()
    runs = [one_run(args.model_service) for _ in range(args.runs)]
    print(f"models: {', '.join(runs[0][2])}")
    print(
        f"startup to ready: median {statistics.median(r[0] for r in runs):.2f} s "
        f"(runs: {', '.join(f'{r[0]:.2f}' for r in runs)}; replaced system: 3.7 s)"
    )
    print(
        f"idle resident memory: median {statistics.median(r[1] for r in runs):.0f} MiB "
        f"(replaced system: 247 MB)"
    )


if __name__ == "__main__":
    main()
