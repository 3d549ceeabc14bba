"""What running model work in compute processes costs and buys.

    python bench/compute_bench.py [--repeats 200]

Through the full app (TestClient, MODEL_SERVICE=sampleapi,twolvlImp, result cache off so every
request computes), for COMPUTE_ISOLATION=process and =thread:
- request overhead of the process hop: median and p90 latency of `POST /sampleapi/predict`
  (a few milliseconds of pandas work), repeated;
- memory of the compute processes: PSS and private (unshared) memory of each, next to the API
  process's, after a twolvlImp predict has warmed one of them (/proc/<pid>/smaps_rollup);
- stopping: a twolvlImp backtest as a job, cancelled once running, and the time until the next
  request is answered (thread isolation: the backtest keeps its slot until its next progress
  report or its end).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from api_app.factory import create_app  # noqa: E402
from common.settings import Settings  # noqa: E402

SAMPLE = {"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2012"}
PREDICT = {
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
BACKTEST = PREDICT | {
    "scheme": "AFS",
    "manual_predictors": None,
    "number_predictor": 10,
    "estimators": 200,
    "folds": 10,
}


def memory(pid: int) -> tuple[float, float]:
    """(PSS, private) MiB of a process."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value) / 1024
    return fields["Pss"], fields["Private_Clean"] + fields["Private_Dirty"]


def wait_ready(client: TestClient) -> None:
    while client.get("/health/ready").status_code != 200:
        time.sleep(0.1)


def latency(client: TestClient, repeats: int) -> tuple[float, float]:
    years = [str(year) for year in range(2000, 2020)]
    times = []
    for index in range(repeats):
        started = time.perf_counter()
        answer = client.post("/sampleapi/predict", json=SAMPLE | {"year": years[index % len(years)]})
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.9)] * 1000


def cancel_to_free(client: TestClient) -> float:
    accepted = client.post("/twolvlImp/backtest", json=BACKTEST, headers={"Prefer": "respond-async"})
    location = accepted.headers["location"]
    while client.get(location).json()["status"] != "running":
        time.sleep(0.02)
    time.sleep(1.0)
    started = time.perf_counter()
    client.post(f"{location}/cancel")
    answer = client.post("/sampleapi/predict", json=SAMPLE | {"year": "1999"})
    assert answer.status_code == 200, answer.text
    return time.perf_counter() - started


def run(isolation: str, repeats: int) -> None:
    settings = Settings(
        _env_file=None,
        environment="test",
        model_service=("sampleapi", "twolvlImp"),
        cache_max_entries=0,
        compute_workers=1,
        compute_isolation=isolation,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        wait_ready(client)
        client.post("/sampleapi/predict", json=SAMPLE)
        median, p90 = latency(client, repeats)
        print(
            f"{isolation:8s} POST /sampleapi/predict: median {median:.2f} ms, p90 {p90:.2f} ms ({repeats} requests)"
        )
        assert client.post("/twolvlImp/predict", json=PREDICT).status_code == 200
        api_pss, api_private = memory(os.getpid())
        print(f"{isolation:8s} API process: PSS {api_pss:.0f} MiB, private {api_private:.0f} MiB")
        for pid in app.state.processes.pids():
            pss, private = memory(pid)
            print(f"{isolation:8s} compute process {pid}: PSS {pss:.0f} MiB, private {private:.0f} MiB")
        print(
            f"{isolation:8s} cancel of a running backtest → next request answered: "
            f"{cancel_to_free(client):.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    for isolation in ("process", "thread"):
        run(isolation, args.repeats)


if __name__ == "__main__":
    main()
