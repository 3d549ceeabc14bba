"""Time twolvlImp's reference requests (and the simple one with `history: true` and with
IterativeImputer, and MANUAL requests of each model family: two predictors, 100 trees) on a cold server (fresh process, as ready as a started server: data loaded and
the model's WARMUP and COMPUTE_WARMUP done, nothing else cached) and warm.

Prints seconds, machine units (seconds / calibrate.py's figure, the mean of a measurement before
and one after the requests) and the CV RMSE of each request, the median of `--runs` fresh processes
(default 3). `--before PATH` runs the same requests on another checkout (e.g. the branch's starting
point) in the same run, alternating with this one, and prints both. Run from the repo root:
`python bench/twolvlimp_bench.py [--runs 3] [--before PATH] [--only NAME ...]`; `--only
time-consuming` times the AFS request alone.
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CALIBRATE = REPO / "bench" / "calibrate.py"
REFERENCE = {
    "simple": (0.53, None),
    "simple + history": (None, None),
    "simple Iterative": (None, None),
    "time-consuming": (26.2, 10.72),
    "MANUAL 2 rfr 100": (None, None),
    "MANUAL 2 etr 100": (None, None),
    "MANUAL 2 gbr 100": (None, None),
}
TWO_PREDICTORS = {"manual_predictors": ["wdi-AG.LND.AGRI.ZS", "wdi-SP.DYN.LE00.IN"], "estimators": 100}
BODIES = {
    "simple": ("SIMPLE", {"history": False}),
    "simple + history": ("SIMPLE", {"history": True}),
    "simple Iterative": ("SIMPLE", {"history": False, "interpolator": "IterativeImputer"}),
    "time-consuming": ("AFS", {"history": False}),
    **{
        f"MANUAL 2 {model} 100": ("SIMPLE", {"history": False, "model": model, **TWO_PREDICTORS})
        for model in ("rfr", "etr", "gbr")
    },
}
"""Each request: the repo's example it starts from (`schemas.SIMPLE_EXAMPLE` or `AFS_EXAMPLE`) and
what it changes."""
TARGET = {"simple Iterative": "≤ 2 units cold", "time-consuming": "≤ 0.5 units cold, RMSE ≤ 11.26"}

CHILD = """
import json, sys, time
from common.settings import DEFAULT_DATASET_PATH
from shared_dataloader import load_indicator_dataset
import models.twolvlImp as package
from models.twolvlImp import service
from models.twolvlImp.schemas import AFS_EXAMPLE, SIMPLE_EXAMPLE, TrainRequest
indicators = load_indicator_dataset(DEFAULT_DATASET_PATH)
for hook in ("WARMUP", "COMPUTE_WARMUP"):  # a checkout before the zygote has no COMPUTE_WARMUP
    if hasattr(package, hook):
        getattr(package, hook)({"indicators": indicators})
base, changes = json.loads(sys.argv[1])
body = TrainRequest(**{**(AFS_EXAMPLE if base == "AFS" else SIMPLE_EXAMPLE), **changes})
runs = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    result = service.predict(body, indicators).indicatorJson
    runs.append(time.perf_counter() - started)
print(json.dumps({"runs": runs, "rmse": result.rmse[body.target_year]}))
"""


def calibrate() -> float:
    if not CALIBRATE.is_file():
        sys.exit(f"calibrate.py not found at {CALIBRATE}")
    return float(
        subprocess.run([sys.executable, str(CALIBRATE)], capture_output=True, text=True, check=True).stdout
    )


def measure(name: str, repeats: int, repo: Path = REPO) -> dict:
    """Runs in a fresh process: the first run is cold (only the warm-up done), the others warm."""
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", CHILD, json.dumps(BODIES[name]), str(repeats)],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per request (median)")
    parser.add_argument("--before", type=Path, help="another checkout to time in the same run")
    parser.add_argument(
        "--only", choices=list(REFERENCE), action="append", help="time only this request (repeatable)"
    )
    args = parser.parse_args()
    names = args.only or list(REFERENCE)
    checkouts = {"after": REPO, **({"before": args.before} if args.before else {})}
    before = calibrate()
    runs: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.runs):
        for name in names:
            for label, repo in checkouts.items():
                runs.setdefault((label, name), []).append(measure(name, 3, repo))
    after = calibrate()
    unit = (before + after) / 2
    print(
        f"calibrate.py: {before:.3f} s before, {after:.3f} s after; machine unit = their mean, {unit:.3f} s; "
        f"medians of {args.runs} fresh processes"
    )
    for (label, name), results in sorted(runs.items(), key=lambda item: (list(REFERENCE).index(item[0][1]),)):
        cold = statistics.median(result["runs"][0] for result in results)
        warm = statistics.median(min(result["runs"][1:]) for result in results)
        rmse = statistics.median(result["rmse"] for result in results)
        ref_units, ref_rmse = REFERENCE[name]
        print(
            f"{label:6s} {name:18s} cold {cold:7.3f} s = {cold / unit:6.3f} units | warm {warm:7.3f} s = "
            f"{warm / unit:6.3f} units | replaced system {ref_units or '—'} units | CV RMSE {rmse:.3f}"
            + (f" (replaced system {ref_rmse})" if ref_rmse else "")
            + (f" | target {TARGET[name]}" if name in TARGET else "")
        )


if __name__ == "__main__":
    main()
