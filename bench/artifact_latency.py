"""Latency and memory of the trained-artifact models, this checkout next to another (issue 18).

    python bench/artifact_latency.py [--before PATH] [--rounds 3] [--requests 300] [--only-round-trips]

For each round and checkout (`--before` first, when given, then this one; alternating, so both see
the same load) a fresh `uvicorn api_app:app` with `MODEL_SERVICE=sentiment,flight_delay,kserve_v2`
(default settings; DATA_CACHE_DIR a temporary folder filled by one unmeasured start per checkout) is
started and, once its warm-ups are done:

- the first `POST /flight_delay/predict` of version 1 (one flight): in a checkout that scores it in
  compute processes, the first call of a compute process forked after the warm-ups;
- `--requests` sequential requests of one instance to each version (`sentiment` 1 and 2: one text,
  `flight_delay` 1 and 2: one flight): the client's median and 90th percentile, and the server's own
  scoring time per call (`sids_artifact_prediction_duration_seconds` sum / count: the predictor call
  alone; for a version scored by a compute process, the round trip to it);
- `POST /sentiment/predict` with 1,000 review texts (median of 10);
- the server's RSS at the end.

Prints the medians over the rounds per checkout, and the load average. Then, in this process with this
checkout's code: the round trip of a call to one compute process (`common.processes.ProcessPool`)
whose work is a cache lookup (`pipelines.check` of a pipeline it holds), and flight_delay 1 (a
pipeline) and 2 (ONNX) scored through a compute process next to the same scoring in this process
(`--requests` each, medians).
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from platform_startup import FLIGHT, REPO_ROOT, Server, rss_mib, server_env, timed_posts

MODELS = "sentiment,flight_delay,kserve_v2"
SENTENCE = "The battery lasts all day, great phone."
SCORED = re.compile(
    r'^sids_artifact_prediction_duration_seconds_(sum|count)\{model="([^"]+)",version="([^"]+)"\} (\S+)$',
    re.MULTILINE,
)
CASES = (
    ("sentiment", "1", {"instances": [SENTENCE], "version": "1"}),
    ("sentiment", "2", {"instances": [SENTENCE], "version": "2"}),
    ("flight_delay", "1", {"instances": [FLIGHT], "version": "1"}),
    ("flight_delay", "2", {"instances": [FLIGHT], "version": "2"}),
)


def scoring_totals(client: httpx.Client) -> dict[tuple[str, str, str], float]:
    text = client.get("/metrics").text
    return {(model, version, kind): float(value) for kind, model, version, value in SCORED.findall(text)}


def one_server(repo: Path, env: dict[str, str], requests: int, texts: list[str]) -> dict[str, float]:
    server = Server(repo, env)
    figures: dict[str, float] = {}
    try:
        server.wait_ready()
        server.wait_settled()
        with httpx.Client(base_url=server.url, timeout=120) as client:
            started = time.perf_counter()
            client.post("/flight_delay/predict", json=CASES[2][2]).raise_for_status()
            figures["first flight_delay 1 (ms)"] = (time.perf_counter() - started) * 1000
            for model, version, body in CASES:
                for _ in range(20):
                    client.post(f"/{model}/predict", json=body).raise_for_status()
                before = scoring_totals(client)
                times = timed_posts(client, f"/{model}/predict", body, requests)
                after = scoring_totals(client)
                calls = after[model, version, "count"] - before[model, version, "count"]
                spent = after[model, version, "sum"] - before[model, version, "sum"]
                label = f"{model} {version}"
                figures[f"{label}: client p50 (ms)"] = statistics.median(times) * 1000
                figures[f"{label}: client p90 (ms)"] = statistics.quantiles(times, n=10)[-1] * 1000
                figures[f"{label}: scoring per call (µs)"] = spent / calls * 1e6
            many = {"instances": texts}
            client.post("/sentiment/predict", json=many).raise_for_status()
            times = timed_posts(client, "/sentiment/predict", many, 10)
            figures["sentiment 1, 1,000 texts (ms)"] = statistics.median(times) * 1000
        figures["RSS at the end (MiB)"] = rss_mib(server.process.pid)
        return figures
    finally:
        server.stop()


def percentiles(times: list[float]) -> str:
    return f"p50 {statistics.median(times) * 1000:.3f} ms, p90 {statistics.quantiles(times, n=10)[-1] * 1000:.3f} ms"


def round_trips(requests: int) -> None:
    """The cost of handing a flight_delay batch (version 1: a pipeline; 2: ONNX) to a compute process,
    without HTTP, next to scoring it in this process."""
    import asyncio

    from common.calls import Call
    from common.processes import ProcessPool
    from models._artifacts import pipelines
    from models._artifacts.spec import prepare
    from models._artifacts.store import load_model_store
    from models.flight_delay.spec import SPEC

    cache = Path(tempfile.mkdtemp(prefix="sids-bench-cache-"))
    versions = load_model_store(REPO_ROOT / "model_store", [cache]).get("flight_delay").versions  # type: ignore[union-attr]
    batch = prepare(SPEC, [FLIGHT])
    pool = ProcessPool(1, 4, lambda name: None, "process", "fork")

    async def timed(call: Call) -> list[float]:
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            await pool.run(call, 60)
            times.append(time.perf_counter() - started)
        return times

    try:
        for name in ("1", "2"):
            target = pipelines.target(versions[name])
            asyncio.run(pool.run(Call.of(pipelines.check, target), 120))  # loaded there once
            if name == "1":
                lookups = asyncio.run(timed(Call.of(pipelines.check, target)))
                print(f"compute process round trip, a cache lookup: {percentiles(lookups)}")
            remote = asyncio.run(timed(Call.of(pipelines.score, {**target, "batch": batch})))
            estimator = pipelines.pipeline(target)
            here = []
            for _ in range(requests):
                started = time.perf_counter()
                pipelines.predict(estimator, SPEC.kind, batch)
                here.append(time.perf_counter() - started)
            print(
                f"flight_delay {name}, one flight, in a compute process: {percentiles(remote)}; "
                f"here: {percentiles(here)}"
            )
    finally:
        pool.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout to measure alongside")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--only-round-trips", action="store_true", help="skip the servers")
    args = parser.parse_args()
    if args.only_round_trips:
        round_trips(args.requests)
        return
    checkouts = [("before", args.before.resolve())] if args.before else []
    checkouts.append(("this checkout", REPO_ROOT))
    sentences = REPO_ROOT / "model_store/_data/sentiment-labelled-sentences/sentiment.csv"
    texts = pd.read_csv(sentences)["text"].head(1000).tolist()
    print(f"load average at the start: {os.getloadavg()[0]:.2f}")
    envs = {}
    for name, repo in checkouts:
        envs[name] = server_env(MODELS, tempfile.mkdtemp(prefix="sids-bench-cache-"))
        one_server(repo, envs[name], 5, texts[:10])  # fills DATA_CACHE_DIR, warms the OS page cache
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in checkouts}
    for _ in range(args.rounds):
        for name, repo in checkouts:
            results[name].append(one_server(repo, envs[name], args.requests, texts))
    keys = list(results[checkouts[-1][0]][0])
    print(f"medians of {args.rounds} servers per checkout ({args.requests} requests per version each):")
    print(f"{'figure':<40}" + "".join(f"{name:>16}" for name, _ in checkouts))
    for key in keys:
        print(
            f"{key:<40}"
            + "".join(f"{statistics.median(r[key] for r in results[name]):>16.3f}" for name, _ in checkouts)
        )
    round_trips(args.requests)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
