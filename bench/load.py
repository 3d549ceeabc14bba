"""Load test of the replaced system's published scenario: USERS users each send REQUESTS requests
(POST /twolvlImp/predict, the "simple request"), one after another, all users at once.

    python bench/load.py                          # embedded mode, identical requests (warm cache)
    python bench/load.py --scenario per-user      # every user its own request (20 cold, then cached)
    python bench/load.py --scenario all-distinct  # no two requests alike (cache never helps)
    python bench/load.py --backend redis --job-workers 2   # API + `python -m api_app.worker`s

Starts a real uvicorn server (and workers) on free ports, prints throughput, latency percentiles
and errors, in seconds and machine units (seconds / calibrate.py, run in the same session).
"""

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
}
REPLACED = {"throughput": 1.23, "median": 15.8}
YEARS = [str(year) for year in range(2000, 2020)]


def request_for(scenario: str, user: int, index: int) -> dict:
    """The body user `user` sends the `index`-th time: the same for all; one per user (its own
    year, so nothing is shared); or never the same twice (its own year, 10 + index trees)."""
    if scenario == "same":
        return SIMPLE
    year = YEARS[user % len(YEARS)]
    if scenario == "per-user":
        return {**SIMPLE, "target_year": year}
    return {**SIMPLE, "target_year": year, "estimators": 10 + index}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def services(args):
    """uvicorn (and queue workers with their Redis db in redis mode), stopped on exit."""
    env = {
        **os.environ,
        "MODEL_SERVICE": "twolvlImp",
        "LOG_LEVEL": "WARNING",
        "JOB_BACKEND": args.backend,
        "COMPUTE_WORKERS": str(args.compute_workers),
    }
    if args.backend == "redis":
        env["REDIS_URL"] = args.redis_url
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
    port = free_port()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api_app:app",
                "--port",
                str(port),
                "--workers",
                str(args.api_workers),
                "--log-level",
                "warning",
            ],
            cwd=REPO_ROOT,
            env=env,
        )
    ]
    if args.backend == "redis":
        processes += [
            subprocess.Popen([sys.executable, "-m", "api_app.worker"], cwd=REPO_ROOT, env=env)
            for _ in range(args.job_workers)
        ]
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("server did not become ready")
        time.sleep(3 if args.backend == "redis" else 0)
        yield url
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)


async def user(url: str, number: int, args, latencies: list, errors: list) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        for index in range(args.requests):
            started = time.perf_counter()
            try:
                response = await client.post(
                    "/twolvlImp/predict", json=request_for(args.scenario, number, index)
                )
                if response.status_code != 200:
                    errors.append(f"{response.status_code}: {response.text[:200]}")
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            latencies.append(time.perf_counter() - started)


async def run(url: str, args) -> tuple[float, list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(user(url, n, args, latencies, errors) for n in range(args.users)))
    return time.perf_counter() - started, latencies, errors


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=["same", "per-user", "all-distinct"], default="same")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--backend", choices=["local", "redis"], default="local")
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn --workers")
    parser.add_argument("--job-workers", type=int, default=2, help="worker processes (redis backend)")
    parser.add_argument("--compute-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()

    unit = None
    if CALIBRATE.is_file():
        unit = float(
            subprocess.run(
                [sys.executable, str(CALIBRATE)], capture_output=True, text=True, check=True
            ).stdout
        )
    with services(args) as url:
        wall, latencies, errors = asyncio.run(run(url, args))
    total = len(latencies)
    throughput = total / wall
    median, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    units = (lambda s: f"{s / unit:.3f} u") if unit else (lambda s: "n/a")
    print(
        f"scenario={args.scenario} backend={args.backend} users={args.users} requests/user={args.requests} "
        f"api_workers={args.api_workers} job_workers={args.job_workers if args.backend == 'redis' else 0}"
    )
    print(f"calibrate: {unit:.3f} s" if unit else "calibrate: not found")
    print(f"requests {total}  errors {len(errors)}  wall {wall:.1f} s")
    print(
        f"throughput {throughput:.2f} req/s  ({throughput / REPLACED['throughput']:.1f}x the replaced "
        f"system's {REPLACED['throughput']} req/s)"
    )
    print(
        f"latency  median {median:.3f} s ({units(median)})  p90 {percentile(latencies, 0.9):.3f} s  "
        f"p99 {p99:.3f} s ({units(p99)})  max {max(latencies):.3f} s  (replaced: median {REPLACED['median']} s)"
    )
    for error in errors[:5]:
        print("error:", error)


if __name__ == "__main__":
    main()
