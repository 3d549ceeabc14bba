"""Re-fit the a-priori cost constants of `models/twolvlImp/estimate.py` (`TRAIN_COSTS`, `ALL_SHARE`,
the AFS rank pair) on this machine, as bench/README.md ("A-priori costs") describes: in one warmed-up
process, PCA requests of each model family over a grid of (trees, predictors) and AFS requests over
`number_predictor`, each timed by its recorded stages and divided by the machine unit measured
around it (`fixed_workload(20)` × 5). Prints per stage the current constants' formula over the
measured units (median, how many within a factor 1.5) and the re-fitted constants with the same.
`--basis cpu` (default) fits CPU seconds over the unit's CPU seconds (steadier on a shared machine),
`--basis wall` wall-clock seconds. Run from the repo root:
`python bench/estimate_costs.py [--passes 2] [--basis cpu|wall]`.
"""

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.machine_speed import fixed_workload
from common.settings import DEFAULT_DATASET_PATH
from models.twolvlImp import WARMUP, service
from models.twolvlImp.schemas import SIMPLE_EXAMPLE, TrainRequest
from shared_dataloader import load_indicator_dataset

E = importlib.import_module("models.twolvlImp.estimate")  # the package's `estimate` is its endpoint
FAMILY_GRID = ((10, 1), (50, 5), (100, 2), (100, 8), (200, 5), (300, 1), (50, 10))
ALL_GRID = ((10, 1), (50, 5), (100, 8), (200, 2))
AFS_PREDICTORS = (2, 5, 10, 20, 30)
AFS_YEARS = ("2001", "2012")
PCA_YEAR = "2012"


def requests() -> list[dict]:
    base = {**SIMPLE_EXAMPLE, "history": False, "manual_predictors": None}
    pca = {**base, "target_year": PCA_YEAR, "scheme": "PCA"}
    bodies = [
        {**pca, "model": family, "estimators": trees, "number_predictor": n}
        for family in ("rfr", "etr", "gbr")
        for trees, n in FAMILY_GRID
        if not (family == "gbr" and trees == 300)
    ]
    bodies += [{**pca, "model": "all", "estimators": trees, "number_predictor": n} for trees, n in ALL_GRID]
    bodies += [
        {
            **base,
            "target_year": year,
            "scheme": "AFS",
            "model": "rfr",
            "estimators": 10,
            "number_predictor": n,
        }
        for year in AFS_YEARS
        for n in AFS_PREDICTORS
    ]
    return bodies


def unit() -> tuple[float, float]:
    """The machine unit in wall-clock and in CPU seconds."""
    cpu = time.process_time()
    wall = fixed_workload(20) * 5
    return wall, (time.process_time() - cpu) * 5


def time_requests(passes: int) -> list[tuple[dict, Any, list[float]]]:
    indicators = load_indicator_dataset(DEFAULT_DATASET_PATH)
    WARMUP({"indicators": indicators})
    bodies = requests()
    for year in {body["target_year"] for body in bodies}:  # impute once: the stages timed are the others
        service.predict(TrainRequest(**{**bodies[0], "target_year": year}), indicators)
    timed = []
    for _ in range(passes):
        for body in bodies:
            before = unit()
            service.predict(TrainRequest(**body), indicators)
            after = unit()
            run = service.RUN_TIMES._runs[-1]
            timed.append((body, run, [(a + b) / 2 for a, b in zip(before, after)]))
    return timed


def formula(cost, features, family: str) -> float:
    rows = max(features.training_rows / 200, 0.1)
    return (
        cost.fixed
        + features.estimators * cost.per_tree * (1 + cost.per_predictor * (features.selected - 1)) * rows
    )


def summary(ratios) -> str:
    ratios = np.asarray(ratios)
    within = int(np.sum((ratios < 1.5) & (ratios > 1 / 1.5)))
    return f"median {statistics.median(ratios):.2f}, {within} of {len(ratios)} within 1.5"


def main() -> None:
    from scipy.optimize import minimize, nnls

    parser = argparse.ArgumentParser()
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--basis", choices=("cpu", "wall"), default="cpu")
    args = parser.parse_args()
    timed = time_requests(args.passes)
    column = 1 if args.basis == "cpu" else 0

    def measured(run, units, stage: str) -> float:
        seconds = run.cpu_seconds if args.basis == "cpu" else run.stages
        return seconds[stage] / units[column]

    fitted = {}
    for family in ("rfr", "etr", "gbr"):
        data = [
            (run.features, measured(run, units, "train"))
            for body, run, units in timed
            if body["model"] == family and body["scheme"] == "PCA"
        ]
        current = E.TRAIN_COSTS[family]

        def loss(log_params, data=data, family=family):
            cost = E.TreeCost(*np.exp(log_params))
            return sum(np.log(formula(cost, f, family) / m) ** 2 for f, m in data)

        start = np.log([current.fixed, current.per_tree, current.per_predictor])
        found = minimize(loss, start, method="Nelder-Mead", options={"maxiter": 5000, "fatol": 1e-9})
        fitted[family] = E.TreeCost(*(float(f"{value:.2g}") for value in np.exp(found.x)))
        print(
            f"{family} train ({len(data)}): now {current} — {summary([formula(current, f, family) / m for f, m in data])}"
        )
        print(
            f"    re-fitted {fitted[family]} — {summary([formula(fitted[family], f, family) / m for f, m in data])}"
        )
    shares = [
        measured(run, units, "train") / sum(formula(fitted[fam], run.features, fam) for fam in fitted)
        for body, run, units in timed
        if body["model"] == "all"
    ]
    print(
        f"ALL_SHARE: now {E.ALL_SHARE}; measured over the re-fitted families' sum: median "
        f"{statistics.median(shares):.2f} ({min(shares):.2f}–{max(shares):.2f}, {len(shares)} runs)"
    )
    afs = [
        (run.features, measured(run, units, "select"))
        for body, run, units in timed
        if body["scheme"] == "AFS"
    ]
    rounds = [E.elimination_schedule(f.candidates, f.selected) for f, _ in afs]
    A = np.array([[sum(r) / m, len(r) / m] for r, (_, m) in zip(rounds, afs)])
    pair, _ = nnls(A, np.ones(len(afs)))
    print(
        f"AFS select ({len(afs)}): now {E.RANK_UNITS_PER_COLUMN} per column + {E.RANK_ROUND_UNITS} per round — "
        f"{summary([E.select_units(f) / m for f, m in afs])}"
    )
    print(f"    re-fitted {pair[0]:.2g} + {pair[1]:.2g} — {summary(A @ pair)}")
    walls = [units[0] for _, _, units in timed]
    print(f"machine unit {min(walls):.2f}–{max(walls):.2f} s over {len(timed)} timings")


if __name__ == "__main__":
    main()
