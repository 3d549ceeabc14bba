"""Record what `POST /twolvlImp/estimate` learns from, and replay it through the current estimator.

`python bench/estimate_bench.py --record FILE` starts its server through `serve` below, which appends
to FILE (JSON lines) every run the estimator records (cost features, wall-clock and CPU seconds per
stage, whether it was its process's first) and every estimate it gives; the bench appends each
request's duration as its client measured it. `python bench/estimate_replay.py FILE...` feeds each
recorded sequence, in order, to the estimator of this checkout (`models/twolvlImp/estimate.py`, as
edited) and prints, per file and in all, how many requests it estimates within a factor 1.5 of their
measured duration, the ratios, and the mean |log ratio|: a change to the estimator can then be
compared with the one that served, on the very same runs. Run from the repo root.
"""

import argparse
import dataclasses
import glob
import importlib
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.machine_speed import HOST

E = importlib.import_module("models.twolvlImp.estimate")  # the package's `estimate` is its endpoint
FACTOR = 1.5


def _append(path: str, entry: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


def serve(port: int, record: str) -> None:
    """`uvicorn api_app:app` on 127.0.0.1:`port` whose run history also appends to `record`."""
    import uvicorn

    record_run, estimate = E.RunHistory.record, E.RunHistory.estimate

    def recording(self, features, seconds, stages=None, fresh=False, pid=None, cpu_seconds=None) -> None:
        run = {"seconds": seconds, "stages": stages, "fresh": fresh, "pid": pid, "cpu": cpu_seconds}
        _append(record, {"run": run, "features": dataclasses.asdict(features)})
        record_run(self, features, seconds, stages, fresh, pid, cpu_seconds)

    def estimating(self, features, fresh_process=False):
        answer = estimate(self, features, fresh_process)
        entry = {"seconds": answer.seconds, "fresh_process": fresh_process, "unit": HOST.unit_seconds}
        _append(record, {"estimate": entry, "features": dataclasses.asdict(features)})
        return answer

    E.RunHistory.record, E.RunHistory.estimate = recording, estimating
    uvicorn.run("api_app:app", host="127.0.0.1", port=port, log_level="warning")


def replay(path: str) -> list[tuple[float, float]]:
    """(replayed, served) estimate over the measured duration, per request of a recorded sequence."""
    history = E.RunHistory()
    asked: tuple[float, float] | None = None
    """The latest estimate before a request: (replayed, served) seconds."""
    ratios = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            entry = json.loads(line)
            if "estimate" in entry:
                served = entry["estimate"]
                HOST.unit_seconds = served["unit"]
                features = E.CostFeatures(**entry["features"])
                asked = history.estimate(features, served["fresh_process"]).seconds, served["seconds"]
            elif "actual" in entry and asked is not None:
                ratios.append((asked[0] / entry["actual"], asked[1] / entry["actual"]))
                asked = None
            elif "run" in entry:
                run = entry["run"]
                history.record(
                    E.CostFeatures(**entry["features"]),
                    run["seconds"],
                    run["stages"],
                    run["fresh"],
                    run["pid"],
                    run["cpu"],
                )
    return ratios


def _summary(ratios: list[float]) -> str:
    inside = sum(1 / FACTOR <= ratio <= FACTOR for ratio in ratios)
    spread = sum(abs(math.log(ratio)) for ratio in ratios) / max(len(ratios), 1)
    return f"{inside} of {len(ratios)} within {FACTOR}, mean |log ratio| {spread:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="recorded sequences (globs allowed)")
    parser.add_argument(
        "--serve", type=int, metavar="PORT", help="serve and record (estimate_bench.py's use)"
    )
    parser.add_argument("--record", help="the file --serve appends to")
    args = parser.parse_args()
    if args.serve is not None:
        if not args.record:
            parser.error("--serve needs --record FILE")
        serve(args.serve, args.record)
        return
    files = sorted({name for pattern in args.files for name in glob.glob(pattern)})
    if not files:
        parser.error("no recorded sequence given (python bench/estimate_bench.py --record FILE makes one)")
    replayed: list[float] = []
    served: list[float] = []
    for path in files:
        pairs = replay(path)
        replayed += [now for now, _ in pairs]
        served += [then for _, then in pairs]
        shown = " ".join(f"{now:.2f}" for now, _ in pairs)
        print(
            f"{Path(path).name:32s} {sum(1 / FACTOR <= now <= FACTOR for now, _ in pairs)} of {len(pairs)}: {shown}"
        )
    print(f"this checkout's estimator: {_summary(replayed)}")
    print(f"the estimator that served: {_summary(served)}")


if __name__ == "__main__":
    main()
