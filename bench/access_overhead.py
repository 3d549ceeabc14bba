"""What access control, fair use and the audit trail cost per request.

Starts one real uvicorn server (sampleapi only) per mode — AUTH_MODE=off, on as an anonymous caller, on
with an API key — and times sequential requests from one client on loopback: `GET /params` (a listing:
scope check + rate limit) and a cached `POST /sampleapi/predict` (also one audit record). Prints the
median and p95 in milliseconds. Run from the repo root: `python bench/access_overhead.py [--requests 400]`.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # the app's packages and the tests' helpers
from helpers.servers import live_server  # noqa: E402

BODY = {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2012"}


def timings(base: str, headers: dict, count: int) -> dict[str, tuple[float, float]]:
    results = {}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for name, call in (
            ("GET /params", lambda: client.get("/params")),
            ("POST /sampleapi/predict (cached)", lambda: client.post("/sampleapi/predict", json=BODY)),
        ):
            assert call().status_code == 200
            samples = []
            for _ in range(count):
                started = time.perf_counter()
                answer = call()
                samples.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, answer.text
            samples.sort()
            results[name] = (statistics.median(samples), samples[int(len(samples) * 0.95) - 1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="sids-bench-state-")
    common = {
        "MODEL_SERVICE": "sampleapi",
        "LOG_LEVEL": "WARNING",
        "STATE_DIR": state,
        "RATE_LIMIT_ANONYMOUS": "1000000/minute",
        "RATE_LIMIT_AUTHENTICATED": "1000000/minute",
    }
    created = subprocess.run(
        [sys.executable, "-m", "api_app.keys", "create", "--name", "bench", "--scopes", "read,compute"],
        env={**os.environ, **common},
        capture_output=True,
        text=True,
        check=True,
    )
    key = created.stdout.strip().splitlines()[-1]
    rows = []
    for mode, env, headers in (
        ("AUTH_MODE=off", {"AUTH_MODE": "off"}, {}),
        ("AUTH_MODE=on, anonymous", {"AUTH_MODE": "on"}, {}),
        ("AUTH_MODE=on, API key", {"AUTH_MODE": "on"}, {"X-API-Key": key}),
    ):
        with live_server({**common, **env}) as base:
            for name, (median, p95) in timings(base, headers, args.requests).items():
                rows.append((mode, name, median, p95))
    print(f"{'mode':26} {'request':34} {'median ms':>10} {'p95 ms':>8}")
    for mode, name, median, p95 in rows:
        print(f"{mode:26} {name:34} {median:10.2f} {p95:8.2f}")


if __name__ == "__main__":
    main()
