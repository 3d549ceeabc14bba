"""Throughput of cached `POST /twolvlImp/predict` answers next to a bare FastAPI hello-world.

    python bench/twolvlimp_cache_bench.py [--seconds 8] [--connections 16] [--workers 1] [--repo PATH]

Needs `wrk` (`apt-get install -y wrk`). Starts `bench/artifacts_hello.py` and the app
(`MODEL_SERVICE=twolvlImp`, default settings: in-process result cache, no auth, no tracing) with
uvicorn (uvloop + httptools, loopback, `--workers N`), sends the Swagger example once so that its
answer is cached, then loads each with `wrk -t1 -cC` (after a 2 s warm-up): `GET /` of the
hello-world and the same `POST /twolvlImp/predict` (every answer from the result cache). Prints
req/s, p50/p99 latency and the share of the hello-world's throughput (target ≥ 40 %), with the
machine unit of `bench/calibrate.py` measured in the same run. `--repo` points the app at another
checkout (e.g. the branch's starting point, for a before/after table in the same run).
"""

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from artifacts_bench import free_port, wrk

REPO_ROOT = Path(__file__).resolve().parent.parent
CALIBRATE = REPO_ROOT / "bench" / "calibrate.py"
SIMPLE = {
    "target_year": "2001",
    "dataset": "wdi",
    "target": "wdi-EG.ELC.ACCS.ZS",
    "interpolator": "KNNImputer",
    "scheme": "MANUAL",
    "manual_predictors": ["wdi-AG.LND.AGRI.ZS"],
    "estimators": 10,
    "model": "rfr",
    "interval": "quantile",
    "history": True,
}


@contextlib.contextmanager
def server(app: str, workers: int, ready_path: str, cwd: Path, app_dir: str | None = None):
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
        *(["--app-dir", app_dir] if app_dir else []),
    ]
    env = {**os.environ, "MODEL_SERVICE": "twolvlImp", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(cwd)}
    process = subprocess.Popen(command, cwd=cwd, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + ready_path, timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{app} did not become ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def cached_predict(repo: Path, workers: int, seconds: int, connections: int) -> dict:
    with server("api_app:app", workers, "/health/ready", repo) as url:
        with httpx.Client(base_url=url, timeout=600) as client:
            for _ in range(3 * workers):  # every worker computes or caches the answer once
                client.post("/twolvlImp/predict", json=SIMPLE).raise_for_status()
        return wrk(url + "/twolvlImp/predict", seconds, connections, SIMPLE)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repo", type=Path, action="append", default=[], help="checkout to compare")
    args = parser.parse_args()
    unit = float(subprocess.run([sys.executable, str(CALIBRATE)], capture_output=True, text=True).stdout)
    print(
        f"machine unit (bench/calibrate.py): {unit:.3f} s; wrk -t1 -c{args.connections} -d{args.seconds}s, "
        f"{args.workers} worker(s), loopback"
    )
    print(f"{'path':<44}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs hello':>10}")
    with server("artifacts_hello:app", args.workers, "/", REPO_ROOT, app_dir="bench") as url:
        hello = wrk(url + "/", args.seconds, args.connections)
    rows = [("GET / (FastAPI hello-world)", hello)]
    for repo in [*args.repo, REPO_ROOT]:
        label = "this checkout" if repo == REPO_ROOT else str(repo)
        rows.append(
            (
                f"POST /twolvlImp/predict cached ({label})"[:43],
                cached_predict(repo, args.workers, args.seconds, args.connections),
            )
        )
    for name, result in rows:
        print(
            f"{name:<44}{result['rps']:>9.0f}{result['p50_ms']:>9.2f}{result['p99_ms']:>9.2f}"
            f"{result['rps'] / hello['rps']:>10.0%}"
        )


if __name__ == "__main__":
    main()
