"""flight_delay 1 latency while twolvlImp computations keep the general compute processes busy, with
the scoring lane on and off, and the memory the reserved process adds.

    nice -n 10 python bench/scoring_lane.py [--requests 20] [--estimators 100] [--lanes 1,0]

After one unmeasured start that fills a temporary DATA_CACHE_DIR, for each `COMPUTE_SCORING_WORKERS`
of `--lanes` a fresh `uvicorn api_app:app` with `MODEL_SERVICE=twolvlImp,flight_delay`,
`COMPUTE_WORKERS=1` and the result cache off is started and, once its warm-ups are done:

- idle: `--requests` sequential `POST /flight_delay/predict` of version 1 (one flight): p50 / p90;
- the PSS of the server's process tree at idle (`platform_startup.tree_pss`: all of it, and its
  anonymous part), and of the API process, the zygote and each compute process (with its private
  dirty memory: what it does not share) from `/proc/PID/smaps_rollup`;
- busy: two clients send `POST /twolvlImp/predict` (a random forest of `--estimators` trees) back to
  back, so the one general compute process always has one computation running and one waiting; once
  `sids_compute_busy{lane="general"}` shows it busy, `--requests` sequential flight_delay 1 predicts:
  p50 / p90, and how many twolvlImp predicts answered meanwhile.

Prints one table with a column per setting, and the load average at the start and the end.
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from platform_startup import (
    FLIGHT,
    REPO_ROOT,
    Server,
    children,
    fill_data_cache,
    pss_mib,
    server_env,
    timed_posts,
    tree_pss,
)

from models.twolvlImp.schemas import SIMPLE_EXAMPLE  # the repo is on sys.path through platform_startup

FLIGHT_BODY = {"instances": [FLIGHT], "version": "1"}
GENERAL_BUSY = re.compile(r'^sids_compute_busy\{lane="general"\} (\S+)$', re.MULTILINE)
PATIENCE = 300.0


def percentiles(times: list[float]) -> tuple[float, float]:
    """p50 and p90 in ms."""
    return statistics.median(times) * 1000, statistics.quantiles(times, n=10)[-1] * 1000


def flight_predicts(client: httpx.Client, requests: int) -> list[float]:
    return timed_posts(client, "/flight_delay/predict", FLIGHT_BODY, requests)


def compute_processes(server_pid: int) -> list[int]:
    """The compute processes: the children of the zygotes, which are the server's children."""
    return [pid for zygote in children(server_pid) for pid in children(zygote)]


def general_busy(client: httpx.Client) -> float:
    found = GENERAL_BUSY.search(client.get("/metrics").text)
    return float(found.group(1)) if found else 0.0


def load(url: str, body: dict, stop: threading.Event, answered: list[float]) -> None:
    """twolvlImp predicts back to back until `stop` (the one running when it is set finishes)."""
    with httpx.Client(base_url=url, timeout=PATIENCE) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.post("/twolvlImp/predict", json=body).raise_for_status()
            answered.append(time.perf_counter() - started)


def one_server(scoring_workers: int, requests: int, estimators: int, cache_dir: str) -> dict[str, str]:
    env = {
        **server_env("twolvlImp,flight_delay", cache_dir),
        "COMPUTE_WORKERS": "1",
        "COMPUTE_SCORING_WORKERS": str(scoring_workers),
        "CACHE_MAX_ENTRIES": "0",
        "COMPUTE_TIMEOUT_SECONDS": "600",
    }
    server = Server(REPO_ROOT, env)
    figures: dict[str, str] = {}
    try:
        server.wait_ready()
        server.wait_settled()
        with httpx.Client(base_url=server.url, timeout=PATIENCE) as client:
            flight_predicts(client, 5)
            p50, p90 = percentiles(flight_predicts(client, requests))
            figures["flight_delay 1, idle: p50 / p90 (ms)"] = f"{p50:.1f} / {p90:.1f}"
            total, anonymous = tree_pss(server.process.pid)
            figures["server tree PSS, idle: all / anonymous (MiB)"] = f"{total:.1f} / {anonymous:.1f}"
            figures["  API process PSS (MiB)"] = f"{pss_mib(server.process.pid):.1f}"
            zygotes = children(server.process.pid)
            figures["  zygote PSS (MiB)"] = ", ".join(f"{pss_mib(pid):.1f}" for pid in zygotes)
            each = sorted(
                (pss_mib(pid), pss_mib(pid, "Private_Dirty")) for pid in compute_processes(server.process.pid)
            )
            figures["  compute processes: PSS / private (MiB)"] = ", ".join(
                f"{p:.1f}/{d:.1f}" for p, d in each
            )

            body = {**SIMPLE_EXAMPLE, "estimators": estimators}
            client.post("/twolvlImp/predict", json=body).raise_for_status()  # its caches, unmeasured
            stop, answered = threading.Event(), list[float]()
            loaders = [
                threading.Thread(target=load, args=(server.url, body, stop, answered)) for _ in range(2)
            ]
            for loader in loaders:
                loader.start()
            deadline = time.monotonic() + PATIENCE
            while general_busy(client) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            before = len(answered)
            started = time.perf_counter()
            p50, p90 = percentiles(flight_predicts(client, requests))
            spent = time.perf_counter() - started
            during = len(answered) - before
            stop.set()
            for loader in loaders:
                loader.join(PATIENCE)
            figures["flight_delay 1, general process busy: p50 / p90 (ms)"] = f"{p50:.1f} / {p90:.1f}"
            figures["  twolvlImp predicts answered meanwhile"] = f"{during} in {spent:.1f} s"
            if answered:
                figures["  twolvlImp predict, median (s)"] = f"{statistics.median(answered):.2f}"
        return figures
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--estimators", type=int, default=100)
    parser.add_argument("--lanes", default="1,0", help="COMPUTE_SCORING_WORKERS values to measure")
    args = parser.parse_args()
    lanes = [int(value) for value in args.lanes.split(",")]
    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    cache_dir = tempfile.mkdtemp(prefix="sids-bench-cache-")
    fill_data_cache(REPO_ROOT, server_env("twolvlImp,flight_delay", cache_dir))
    results = {lane: one_server(lane, args.requests, args.estimators, cache_dir) for lane in lanes}
    keys = list(results[lanes[0]])
    print(
        f"COMPUTE_WORKERS=1, {args.requests} flight_delay 1 predicts each, twolvlImp {args.estimators} trees"
    )
    print(f"{'':<50}" + "".join(f"{'COMPUTE_SCORING_WORKERS=' + str(lane):>30}" for lane in lanes))
    for key in keys:
        print(f"{key:<50}" + "".join(f"{results[lane].get(key, '-'):>30}" for lane in lanes))
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
