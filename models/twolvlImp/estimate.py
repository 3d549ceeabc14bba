"""Expected duration of a predict request, from this process's measured runs.

Cost formula (machine units = seconds / `calibrate.py`; `MACHINE_SECONDS` converts to seconds
on this machine class, measured idle):

    prepare   (skipped when the imputed matrices are cached)
              KNN 0.12 · Simple 0.01 · Iterative 0.004 × candidates
    select    AFS 0.0025 × candidates · PCA 0.02 · MANUAL 0
    train     per tree 0.0007 × (1 + selected / 20), times 6 fits for rfr/etr (5 folds + final),
              23 × 0.5 for gbr (4 depths × 5 folds + final + 2 quantile models), all = the sum

With measured runs the formula is corrected: 1–7 runs scale it by the geometric mean of
measured / formula; from 8 runs a least-squares line log(seconds) = a + b·log(formula) is fitted.
"""

import math
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from models.twolvlImp.schemas import Estimate

MACHINE_SECONDS = 1.8
PREPARE_UNITS = {"KNNImputer": 0.12, "SimpleImputer": 0.01}
ITERATIVE_UNITS_PER_COLUMN = 0.004
AFS_UNITS_PER_COLUMN = 0.0025
PCA_UNITS = 0.02
TREE_UNITS = 0.0007
FIT_COUNTS = {"rfr": 6.0, "etr": 6.0, "gbr": 23 * 0.5}
MIN_FIT_RUNS = 8
HISTORY_SIZE = 500


@dataclass(frozen=True)
class CostFeatures:
    scheme: str
    model: str
    interpolator: str
    estimators: int
    candidates: int
    selected: int
    training_rows: int
    cached: bool


def cost_features(body, candidates: int, training_rows: int, cached: bool) -> CostFeatures:
    selected = len(body.manual_predictors or []) if body.scheme.name == "MANUAL" else body.number_predictor
    return CostFeatures(body.scheme.name, body.model.name, body.interpolator.name, body.estimators,
                        candidates, int(selected or 1), training_rows, cached)


def formula_seconds(f: CostFeatures) -> float:
    prepare = 0.0 if f.cached else PREPARE_UNITS.get(f.interpolator, ITERATIVE_UNITS_PER_COLUMN * f.candidates)
    select = {"AFS": AFS_UNITS_PER_COLUMN * f.candidates, "PCA": PCA_UNITS}.get(f.scheme, 0.0)
    fits = sum(FIT_COUNTS.values()) if f.model == "all" else FIT_COUNTS[f.model]
    rows = f.training_rows / 200
    train = fits * f.estimators * TREE_UNITS * (1 + f.selected / 20) * max(rows, 0.1)
    return (prepare + select + train) * MACHINE_SECONDS


class RunHistory:
    """Thread-safe record of (cost features, measured seconds) of recent runs."""

    def __init__(self, size: int = HISTORY_SIZE) -> None:
        self._runs: deque[tuple[CostFeatures, float]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, features: CostFeatures, seconds: float) -> None:
        with self._lock:
            self._runs.append((features, seconds))

    def __len__(self) -> int:
        return len(self._runs)

    def estimate(self, features: CostFeatures) -> Estimate:
        with self._lock:
            runs = list(self._runs)
        base = formula_seconds(features)
        if not runs:
            return Estimate(seconds=round(base, 3), method="formula", runs=0)
        predicted = np.log([formula_seconds(f) for f, _ in runs])
        measured = np.log([max(s, 1e-3) for _, s in runs])
        spread = np.ptp(predicted) if len(runs) > 1 else 0.0
        if len(runs) >= MIN_FIT_RUNS and spread > 0.5:
            design = np.column_stack([np.ones(len(runs)), predicted])
            (a, b), *_ = np.linalg.lstsq(design, measured, rcond=None)
            seconds = math.exp(a + b * math.log(base))
            return Estimate(seconds=round(seconds, 3), method="history", runs=len(runs))
        factor = math.exp(float(np.mean(measured - predicted)))
        return Estimate(seconds=round(base * factor, 3), method="formula-scaled", runs=len(runs))
