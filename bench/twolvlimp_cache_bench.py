"""Throughput of cached `POST /twolvlImp/predict` answers next to a bare FastAPI hello-world.

    python bench/twolvlimp_cache_bench.py [--seconds 8] [--connections 16] [--workers 1] [--runs 5]
                                          [--repo PATH]

Needs `wrk` (`apt-get install -y wrk`). Starts `bench/artifacts_hello.py` and the app
(`MODEL_SERVICE=twolvlImp`, default settings: in-process result cache, no auth, no tracing) with
uvicorn (uvloop + httptools, loopback, `--workers N`), sends the Swagger example once so that its
answer is cached, then loads each with `wrk -t1 -cC` (after a 2 s warm-up): `GET /` of the
hello-world and the same `POST /twolvlImp/predict` (every answer from the result cache), the
servers in turn, `--runs` times. Prints the medians of req/s and p50/p99 latency and the share of
the hello-world's throughput of the same turn (median and range; target ≥ 40 %), with the machine
unit of `bench/calibrate.py` and the load average. `--repo` adds the app of another checkout (e.g.
the branch's starting point, for a before/after table in the same run).
"""

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
from pathlib import Path

import httpx
from pydantic.config import JsonDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the app's packages
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the other benches

from artifacts_bench import server, wrk

from models.twolvlImp.schemas import SIMPLE_EXAMPLE as SIMPLE

REPO_ROOT = Path(__file__).resolve().parent.parent
CALIBRATE = REPO_ROOT / "bench" / "calibrate.py"


def primed(url: str, workers: int) -> None:
    """Send the request until every worker has computed or cached its answer."""
    with httpx.Client(base_url=url, timeout=600) as client:
        for _ in range(3 * workers):
            client.post("/twolvlImp/predict", json=SIMPLE).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5, help="wrk runs per server, taken in turn")
    parser.add_argument("--repo", type=Path, action="append", default=[], help="checkout to compare")
    args = parser.parse_args()
    unit = float(subprocess.run([sys.executable, str(CALIBRATE)], capture_output=True, text=True).stdout)
    print(
        f"machine unit (bench/calibrate.py): {unit:.3f} s; wrk -t1 -c{args.connections} -d{args.seconds}s, "
        f"{args.workers} worker(s), loopback, median of {args.runs} runs taken in turn"
    )
    with contextlib.ExitStack() as servers:
        targets: list[tuple[str, str, JsonDict | None]] = [
            (
                "GET / (FastAPI hello-world)",
                servers.enter_context(server("artifacts_hello:app", args.workers, "/", app_dir="bench"))
                + "/",
                None,
            )
        ]
        for repo in [*args.repo, REPO_ROOT]:
            label = "this checkout" if repo == REPO_ROOT else str(repo)
            url = servers.enter_context(
                server("api_app:app", args.workers, "/health/ready", models="twolvlImp", cwd=repo)
            )
            primed(url, args.workers)
            targets.append(
                (f"POST /twolvlImp/predict cached ({label})"[:43], url + "/twolvlImp/predict", SIMPLE)
            )
        results: list[list[dict]] = [[] for _ in targets]
        for _ in range(args.runs):
            for (_, url, body), runs in zip(targets, results, strict=True):
                runs.append(wrk(url, args.seconds, args.connections, body))
    hello = results[0]
    print(f"{'path':<44}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs hello':>10}{'range':>12}")
    for (name, _, _), runs in zip(targets, results, strict=True):
        shares = sorted(run["rps"] / reference["rps"] for run, reference in zip(runs, hello, strict=True))
        print(
            f"{name:<44}{statistics.median(r['rps'] for r in runs):>9.0f}"
            f"{statistics.median(r['p50_ms'] for r in runs):>9.2f}"
            f"{statistics.median(r['p99_ms'] for r in runs):>9.2f}"
            f"{statistics.median(shares):>10.0%}{f'{shares[0]:.0%}–{shares[-1]:.0%}':>12}"
        )
    print(f"load average after the runs: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
