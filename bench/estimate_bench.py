"""How well `POST /twolvlImp/estimate` predicts the duration of `POST /twolvlImp/predict` on this
machine. Starts a real uvicorn server (`MODEL_SERVICE=twolvlImp`, result cache off, the host-speed
probe on), waits until the server has measured its machine unit, then for each request below asks
for the estimate and times the prediction (distinct requests: no response cache; imputed matrices
are reused where year, target and imputer repeat, as in service). Prints predicted vs actual
seconds, their ratio, the estimate's basis, and how many rows are within a factor 1.5.
`--record FILE` also appends the runs and estimates the server saw and the measured durations to FILE,
for `bench/estimate_replay.py`. Run from the repo root: `python bench/estimate_bench.py [--record FILE]`.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
CALIBRATE = REPO / "bench" / "calibrate.py"
BASE = {
    "dataset": "wdi",
    "target": "wdi-EG.ELC.ACCS.ZS",
    "interpolator": "KNNImputer",
    "scheme": "MANUAL",
    "manual_predictors": ["wdi-AG.LND.AGRI.ZS"],
    "model": "rfr",
    "interval": "quantile",
}
REQUESTS = [
    ("simple (Swagger example)", {"target_year": "2001", "estimators": 10, "history": True}),
    ("simple, no history", {"target_year": "2001", "estimators": 10, "history": False}),
    (
        "AFS 10, 100 trees (reference)",
        {
            "target_year": "2001",
            "scheme": "AFS",
            "number_predictor": 10,
            "manual_predictors": None,
            "estimators": 100,
            "history": False,
        },
    ),
    (
        "PCA 5, etr 200, bootstrap",
        {
            "target_year": "2010",
            "scheme": "PCA",
            "number_predictor": 5,
            "manual_predictors": None,
            "model": "etr",
            "estimators": 200,
            "interval": "bootstrap",
        },
    ),
    (
        "MANUAL 2, gbr 100, Simple",
        {
            "target_year": "2005",
            "interpolator": "SimpleImputer",
            "model": "gbr",
            "manual_predictors": ["wdi-AG.LND.AGRI.ZS", "wdi-SP.DYN.LE00.IN"],
            "estimators": 100,
        },
    ),
    (
        "AFS 5, all, 50 trees",
        {
            "target_year": "2012",
            "scheme": "AFS",
            "number_predictor": 5,
            "manual_predictors": None,
            "model": "all",
            "estimators": 50,
        },
    ),
    ("MANUAL 1, rfr 300", {"target_year": "2015", "estimators": 300}),
    ("simple again, 2001, 50 trees", {"target_year": "2001", "estimators": 50}),
    (
        "PCA 8, rfr 100, 2010",
        {
            "target_year": "2010",
            "scheme": "PCA",
            "number_predictor": 8,
            "manual_predictors": None,
            "estimators": 100,
        },
    ),
    (
        "AFS 10, gbr 50, 2005",
        {
            "target_year": "2005",
            "interpolator": "SimpleImputer",
            "scheme": "AFS",
            "number_predictor": 10,
            "manual_predictors": None,
            "model": "gbr",
            "estimators": 50,
        },
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def calibrate() -> float:
    return float(
        subprocess.run([sys.executable, str(CALIBRATE)], capture_output=True, text=True, check=True).stdout
    )


def load() -> str:
    return " ".join(f"{figure:.2f}" for figure in os.getloadavg())


def wait_for_unit(client: httpx.Client, body: dict, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        unit = client.post("/twolvlImp/estimate", json=body).json().get("machine_unit")
        if unit:
            return unit
        time.sleep(1)
    sys.exit("the server did not report its machine unit in time")


def server_command(port: int, record: str | None) -> list[str]:
    if record:
        return [
            sys.executable,
            str(REPO / "bench" / "estimate_replay.py"),
            "--serve",
            str(port),
            "--record",
            record,
        ]
    uvicorn = ["uvicorn", "api_app:app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return [sys.executable, "-m", *uvicorn]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--record", metavar="FILE", help="append what the estimator saw, for estimate_replay.py"
    )
    record = parser.parse_args().record
    port = free_port()
    env = {
        **os.environ,
        "MODEL_SERVICE": "twolvlImp",
        "CACHE_MAX_ENTRIES": "0",
        "MACHINE_SPEED_PROBE": "true",
        "LOG_LEVEL": "WARNING",
        "COMPUTE_TIMEOUT_SECONDS": "3600",
    }
    server = subprocess.Popen(server_command(port, record), cwd=REPO, env=env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=3600) as client:
            while True:
                try:
                    if client.get("/health/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            bodies = [
                (name, {k: v for k, v in {**BASE, **changes}.items() if v is not None})
                for name, changes in REQUESTS
            ]
            unit = wait_for_unit(client, bodies[0][1])
            before = calibrate()
            print(
                f"server's machine unit (background probe): {unit:.3f} s; bench/calibrate.py: {before:.3f} s; "
                f"load average {load()}"
            )
            print(f"{'request':32s} {'predicted':>9s} {'actual':>8s} {'ratio':>6s}  basis")
            ratios = []
            for name, body in bodies:
                estimate = client.post("/twolvlImp/estimate", json=body).json()
                started = time.perf_counter()
                response = client.post("/twolvlImp/predict", json=body)
                actual = time.perf_counter() - started
                if response.status_code != 200:
                    print(f"{name:32s} failed: {response.status_code} {response.text[:200]}")
                    continue
                ratio = estimate["seconds"] / actual
                if record:
                    with open(record, "a", encoding="utf-8") as out:
                        out.write(json.dumps({"actual": actual, "request": name}) + "\n")
                ratios.append(ratio)
                print(
                    f"{name:32s} {estimate['seconds']:8.2f}s {actual:7.2f}s {ratio:6.2f}  "
                    f"{estimate['method']} ({estimate['runs']} runs)"
                )
            inside = sum(1 / 1.5 <= r <= 1.5 for r in ratios)
            print(
                f"within a factor 1.5: {inside} of {len(ratios)}; bench/calibrate.py after: {calibrate():.3f} s; "
                f"load average {load()}"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
