"""Time twolvlImp's reference requests (and the simple one with `history: true`) on a cold server (fresh process, as ready as a started
server: data loaded and the model's WARMUP done, nothing else cached) and warm.

Prints seconds, machine units (seconds / calibrate.py's figure, the mean of a measurement before
and one after the requests) and the CV RMSE of each request. Run from the repo root: `python bench/twolvlimp_bench.py`.
"""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CALIBRATE = REPO / "bench" / "calibrate.py"
REFERENCE = {"simple": (0.53, None), "simple + history": (None, None), "time-consuming": (26.2, 10.72)}

CHILD = """
import json, sys, time
from common.settings import DEFAULT_DATASET_PATH
from shared_dataloader import load_indicator_dataset
from models.twolvlImp import WARMUP, service
from models.twolvlImp.schemas import AFS_EXAMPLE, SIMPLE_EXAMPLE, TrainRequest
indicators = load_indicator_dataset(DEFAULT_DATASET_PATH)
WARMUP({"indicators": indicators})
name = sys.argv[1]
body = TrainRequest(**{**(AFS_EXAMPLE if name == "time-consuming" else SIMPLE_EXAMPLE),
                      "history": name.endswith("history")})
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


def measure(name: str, repeats: int) -> dict:
    """Runs in a fresh process: the first run is cold (only the warm-up done), the others warm."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, name, str(repeats)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    before = calibrate()
    results = {name: measure(name, 3) for name in REFERENCE}
    after = calibrate()
    unit = (before + after) / 2
    print(
        f"calibrate.py: {before:.3f} s before, {after:.3f} s after; machine unit = their mean, {unit:.3f} s"
    )
    for name, result in results.items():
        cold, warm = result["runs"][0], min(result["runs"][1:])
        ref_units, ref_rmse = REFERENCE[name]
        print(
            f"{name:15s} cold {cold:7.3f} s = {cold / unit:6.3f} units | warm {warm:7.3f} s = "
            f"{warm / unit:6.3f} units | reference {ref_units or '—'} units | CV RMSE {result['rmse']:.3f}"
            + (f" (reference {ref_rmse})" if ref_rmse else "")
        )


if __name__ == "__main__":
    main()
