"""Response times of CountryCorrelation, Statimpute and SurveyCluster on the shipped data.

Each request goes through the full app (TestClient, only these three models loaded, result cache
off so that every repeat computes); prints the first (cold) and the median of the repeats (warm) in
seconds and in machine units (seconds / calibrate.py's figure, measured in the same run). Run from the repo root: `python bench/analytics_bench.py`.
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # the app's packages and the tests' helpers
CALIBRATE = REPO / "bench" / "calibrate.py"

from common.settings import DEFAULT_DATASET_PATH  # noqa: E402
from helpers.app import running_app  # noqa: E402
from shared_dataloader import load_survey_sample  # noqa: E402

MODELS = ("CountryCorrelation", "Statimpute", "SurveyCluster")
WARM_RUNS = 3


def calibrate() -> float:
    if not CALIBRATE.is_file():
        sys.exit(f"calibrate.py not found at {CALIBRATE}")
    return float(
        subprocess.run([sys.executable, str(CALIBRATE)], capture_output=True, text=True, check=True).stdout
    )


def requests() -> list[tuple[str, str, dict[str, Any]]]:
    survey = load_survey_sample(DEFAULT_DATASET_PATH)
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (
            "correlate wdi/Financial Sector",
            "/correlation/correlate",
            {"dataset": "wdi", "category": "Financial Sector", "country": "SGP", "year": "2014"},
        ),
        (
            "cluster wdi/Financial Sector k=5",
            "/correlation/cluster",
            {"dataset": "wdi", "category": "Financial Sector", "year": "2014", "k": 5},
        ),
        (
            "statimpute linear",
            "/statimpute/impute",
            {"target": "wdi-EG.ELC.ACCS.ZS", "country": "CUB", "method": "linear"},
        ),
        (
            "statimpute spline d=3",
            "/statimpute/impute",
            {"target": "wdi-EG.ELC.ACCS.ZS", "country": "JAM", "method": "spline", "d": 3},
        ),
    ]
    for factor in survey.factors:
        cases.append(
            (
                f"survey {factor} max_k=10",
                "/survey/clustering",
                {"data": survey.data, "metadata": survey.metadata, "factor": factor, "max_k": 10},
            )
        )
    return cases


def timed(client, path: str, body: dict) -> float:
    started = time.perf_counter()
    response = client.post(path, json=body)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        sys.exit(f"{path} answered {response.status_code}: {response.text[:300]}")
    return elapsed


def main() -> None:
    unit = calibrate()
    print(f"calibrate.py: {unit:.3f} s per machine unit")
    with running_app(model_service=MODELS, cache_max_entries=0) as client:
        for name, path, body in requests():
            cold = timed(client, path, body)
            warm = statistics.median(timed(client, path, body) for _ in range(WARM_RUNS))
            print(
                f"{name:40s} cold {cold:7.3f} s = {cold / unit:6.3f} units | "
                f"warm median {warm:7.3f} s = {warm / unit:6.3f} units"
            )
    print(f"calibrate.py after: {calibrate():.3f} s")


if __name__ == "__main__":
    main()
