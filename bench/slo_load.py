"""SLO load test: the dashboard's mix of traffic (bench/slo_scenario.yaml) against a real server,
with a verdict per SLO. A benchmark that prints figures, not a test.

    python bench/slo_load.py                              # 30 s, embedded jobs (one process)
    python bench/slo_load.py --backend redis --job-workers 1   # API + a queue worker (Redis db 13)
    python bench/slo_load.py --without "async AFS jobs"         # the same traffic without heavy jobs

Prints, per class, requests, 5xx, p50/p95/max latency, the SLO threshold and PASS/FAIL; then the
availability over all requests; for async jobs also how long they took to finish.
"""

import argparse
import asyncio
import itertools
import os
import time
from pathlib import Path

import httpx
import yaml
from load import percentile, services

SCENARIO = Path(__file__).resolve().parent / "slo_scenario.yaml"


def bodies(request: dict):
    """The request's bodies in turn: one per listed year (a new year each time), or its one body."""
    years = request.get("years")
    if not years:
        return itertools.repeat(request.get("body"))
    return itertools.cycle([{**request["body"], "target_year": year} for year in years])


async def user(client: httpx.AsyncClient, spec: dict, until: float, offset: int, found: dict) -> None:
    requests = [(r, bodies(r)) for r in spec["requests"]]
    headers = {"Prefer": "respond-async"} if spec.get("async") else {}
    for step in itertools.count(offset):
        if time.monotonic() >= until:
            return
        request, body_of = requests[step % len(requests)]
        body = next(body_of)
        started = time.perf_counter()
        try:
            response = await client.request(request["method"], request["path"], json=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError:
            status = 599
        found["latencies"].append(time.perf_counter() - started)
        found["statuses"].append(status)
        if status == 202:
            found["jobs"].append((response.headers["location"], time.monotonic()))
        await asyncio.sleep(spec.get("think_seconds", 0))


async def finish_times(client: httpx.AsyncClient, jobs: list, timeout: float) -> list[float]:
    """Seconds from submission to the end of each job (polled; unfinished jobs are left out)."""
    done, pending = [], dict(jobs)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for location, submitted in list(pending.items()):
            job = (await client.get(location)).json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                done.append(time.monotonic() - submitted)
                del pending[location]
        await asyncio.sleep(0.5)
    return done


async def run(url: str, scenario: dict, seconds: float) -> list[dict]:
    results = [{"spec": spec, "latencies": [], "statuses": [], "jobs": []} for spec in scenario["classes"]]
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        until = time.monotonic() + seconds
        await asyncio.gather(
            *(user(client, r["spec"], until, n, r) for r in results for n in range(r["spec"]["users"]))
        )
        for result in results:
            if result["jobs"]:
                result["finished"] = await finish_times(client, result["jobs"], timeout=600)
    return results


def report(results: list[dict], scenario: dict, seconds: float) -> bool:
    print(
        f"{'class':<16} {'requests':>8} {'5xx':>4} {'p50 s':>7} {'p95 s':>7} {'max s':>7} {'SLO p95':>8}  verdict"
    )
    passed = True
    for result in results:
        spec, latencies = result["spec"], result["latencies"]
        if not latencies:
            print(f"{spec['name']:<16} no requests completed")
            passed = False
            continue
        p95 = percentile(latencies, 0.95)
        errors = sum(1 for s in result["statuses"] if s >= 500)
        verdict = p95 < spec["p95_seconds"]
        passed &= verdict
        print(
            f"{spec['name']:<16} {len(latencies):>8} {errors:>4} {percentile(latencies, 0.5):>7.3f} {p95:>7.3f} "
            f"{max(latencies):>7.3f} {'< ' + format(spec['p95_seconds'], 'g') + ' s':>8}  "
            f"{'PASS' if verdict else 'FAIL'}"
        )
        if "finished" in result:
            finished = result["finished"]
            print(
                f"{'':<16} jobs submitted {len(result['jobs'])}, finished {len(finished)}"
                + (
                    f", run time p50 {percentile(finished, 0.5):.1f} s, max {max(finished):.1f} s"
                    if finished
                    else ""
                )
            )
    statuses = [s for r in results for s in r["statuses"]]
    availability = sum(1 for s in statuses if s < 500) / len(statuses) if statuses else 0.0
    target = scenario["slo"]["availability"]
    verdict = availability >= target
    print(
        f"availability {availability:.4f} over {len(statuses)} requests in {seconds:g} s "
        f"(SLO >= {target})  {'PASS' if verdict else 'FAIL'}"
    )
    return passed and verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--backend", choices=["local", "redis"], default="local")
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn --workers")
    parser.add_argument("--job-workers", type=int, default=1, help="worker processes (redis backend)")
    parser.add_argument("--compute-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        metavar="CLASS",
        help="leave a class out (e.g. 'async AFS jobs', to see what they cost the others)",
    )
    args = parser.parse_args()
    scenario = yaml.safe_load(SCENARIO.read_text())
    scenario["classes"] = [c for c in scenario["classes"] if c["name"] not in args.without]
    with services(args) as url:
        results = asyncio.run(run(url, scenario, args.seconds))
    print(
        f"backend={args.backend} api_workers={args.api_workers} "
        f"job_workers={args.job_workers if args.backend == 'redis' else 0} scenario={SCENARIO.name}"
    )
    all_passed = report(results, scenario, args.seconds)
    print("all SLOs met" if all_passed else "SLOs missed (see FAIL above)")


if __name__ == "__main__":
    main()
