"""Throughput and latency of the trained-artifact paths next to a bare FastAPI hello-world.

    python bench/artifacts_bench.py [--seconds 8] [--connections 16]

For 1 and 2 uvicorn workers (uvloop + httptools, loopback) it loads with `wrk` (apt-get install wrk):
GET / of a hello-world app, POST /sentiment/predict with one text, and POST
/v2/models/sentiment/infer with one text; then times POST /sentiment/predict with 1,000 distinct
review texts (median of 20, one worker). The machine's calibration time (machine units) is
measured in the same run.
"""

import argparse
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
from platform_startup import timed_posts  # bench/ is on sys.path: the script's folder

REPO_ROOT = Path(__file__).resolve().parent.parent
CALIBRATE = REPO_ROOT / "bench" / "calibrate.py"
ONE_TEXT = {"instances": ["The battery lasts all day, great phone."]}
ONE_V2 = {
    "inputs": [
        {
            "name": "text",
            "shape": [1],
            "datatype": "BYTES",
            "data": ["The battery lasts all day, great phone."],
        }
    ]
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server(
    app: str,
    workers: int,
    ready_path: str,
    app_dir: str | None = None,
    models: str = "sentiment,kserve_v2",
    cwd: Path = REPO_ROOT,
):
    """A uvicorn server of `app` (with MODEL_SERVICE=`models`, run from `cwd`) until the block ends."""
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
    env = {**os.environ, "MODEL_SERVICE": models, "LOG_LEVEL": "WARNING", "PYTHONPATH": str(cwd)}
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
        time.sleep(1.0 if workers > 1 else 0.2)  # let every worker finish loading
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def wrk(url: str, seconds: int, connections: int, body: dict | None = None) -> dict:
    script = ""
    if body is not None:
        payload = json.dumps(body).replace("\\", "\\\\").replace("'", "\\'")
        script = (
            f"wrk.method = 'POST'\nwrk.body = '{payload}'\nwrk.headers['Content-Type'] = 'application/json'\n"
        )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    subprocess.run(
        ["wrk", "-t1", "-c", str(connections), "-d", "2s", "-s", handle.name, url],
        capture_output=True,
        check=True,
    )
    out = subprocess.run(
        ["wrk", "-t1", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", handle.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(handle.name)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} failed responses")

    def figure(pattern: str) -> re.Match[str]:
        match = re.search(pattern, out)
        if match is None:
            raise RuntimeError(f"{url}: no {pattern!r} in wrk's output:\n{out}")
        return match

    def millis(label: str) -> float:
        value, unit = figure(rf"{label}\s+([\d.]+)(us|ms|s)").groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    return {
        "rps": float(figure(r"Requests/sec:\s+([\d.]+)").group(1)),
        "p50_ms": millis("50%"),
        "p99_ms": millis("99%"),
    }


def thousand_texts(url: str) -> float:
    texts = pd.read_csv(REPO_ROOT / "model_store/_data/sentiment-labelled-sentences/sentiment.csv")
    body = {"instances": texts["text"].head(1000).tolist()}
    with httpx.Client(base_url=url, timeout=30) as client:
        timed_posts(client, "/sentiment/predict", body, 3)  # unmeasured
        return statistics.median(timed_posts(client, "/sentiment/predict", body, 20))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    unit = float(
        subprocess.run(
            [sys.executable, str(CALIBRATE)], capture_output=True, text=True, check=True
        ).stdout.split()[-1]
    )
    print(
        f"calibration: {unit:.3f} s per machine unit; wrk -t1 -c{args.connections} "
        f"-d{args.seconds}s, loopback"
    )
    print(f"{'path':<34}{'workers':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'vs hello':>10}")
    for workers in (1, 2):
        with server("artifacts_hello:app", workers, "/", app_dir="bench") as url:
            hello = wrk(url + "/", args.seconds, args.connections)
        rows = [("GET / (FastAPI hello-world)", hello)]
        with server("api_app:app", workers, "/health/ready") as url:
            rows.append(
                (
                    "POST /sentiment/predict (1 text)",
                    wrk(url + "/sentiment/predict", args.seconds, args.connections, ONE_TEXT),
                )
            )
            rows.append(
                (
                    "POST /v2/.../sentiment/infer",
                    wrk(url + "/v2/models/sentiment/infer", args.seconds, args.connections, ONE_V2),
                )
            )
            if workers == 1:
                seconds = thousand_texts(url)
        for name, result in rows:
            print(
                f"{name:<34}{workers:>8}{result['rps']:>10.0f}{result['p50_ms']:>9.2f}"
                f"{result['p99_ms']:>9.2f}{result['rps'] / hello['rps']:>10.0%}"
            )
    print(
        f"POST /sentiment/predict, 1,000 texts (1 worker, median of 20): {seconds * 1000:.1f} ms "
        f"= {seconds / unit:.4f} machine units"
    )


if __name__ == "__main__":
    main()
