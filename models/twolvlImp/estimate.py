"""Expected duration of a predict request on this host, from a cost formula and measured runs.

Cost formula, per stage, in machine units (seconds / `bench/calibrate.py`'s figure):

    prepare   (skipped when the imputed matrices are cached, in this process or, as the compute
              processes report back, in one of them)
              KNN 0.09 · Simple 0.01 · Iterative 0.006 × candidates (MANUAL: 0.08 per chosen
              predictor: only it and its nearest columns are imputed)
    select    AFS 0.0003 × the columns its rounds rank (all candidates once, then the shortlist of
              a few × number_predictor: `selection.elimination_schedule`) + 0.008 per round ·
              PCA 0.01 · MANUAL 0
    train     per fit 0.004 + per tree 0.00035 × (1 + selected / 20), times 6 fits for rfr/etr (5 folds + final),
              23 × 0.5 for gbr (4 depths × 5 folds + final + 2 quantile models), all = the sum
    history   HISTORY_UNITS (curves of every training country, the blend's fit), plus
              HISTORY_CURVE_UNITS the first time for a (target, year): choosing its curve

Seconds per unit, stage by stage: the median over this process's recent runs that had the stage
(of the same imputer, scheme or model family when there are such runs) of (measured seconds of the
stage / its units); for a stage no run has had yet, this host's
machine unit, measured in the background once the service is ready (`common.machine_speed.HOST`),
or `MACHINE_SECONDS` (an idle 2-core machine) until then. Plus the median time outside the stages
(validation, assembling the answer). So the estimate follows the load and speed of the machine that
serves it, and each stage learns its own rate (AFS selection does not scale like tree fitting).
"""

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from common.machine_speed import HOST
from models.twolvlImp.schemas import Estimate
from models.twolvlImp.selection import elimination_schedule

MACHINE_SECONDS = 1.8
PREPARE_UNITS = {"KNNImputer": 0.09, "SimpleImputer": 0.01}
ITERATIVE_UNITS_PER_COLUMN = 0.006
ITERATIVE_FOCUSED_UNITS = 0.08
RANK_UNITS_PER_COLUMN = 0.0003
RANK_ROUND_UNITS = 0.008
PCA_UNITS = 0.01
TREE_UNITS = 0.00035
FIT_UNITS = 0.004
HISTORY_UNITS = 0.06
HISTORY_CURVE_UNITS = 0.2
FIT_COUNTS = {"rfr": 6.0, "etr": 6.0, "gbr": 23 * 0.5}
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
    history: bool = False
    history_cold: bool = False


def cost_features(
    body, candidates: int, training_rows: int, cached: bool, history_cold: bool = False
) -> CostFeatures:
    selected = len(body.manual_predictors or []) if body.scheme.name == "MANUAL" else body.number_predictor
    return CostFeatures(
        body.scheme.name,
        body.model.name,
        body.interpolator.name,
        body.estimators,
        candidates,
        int(selected or 1),
        training_rows,
        cached,
        bool(getattr(body, "history", False)),
        history_cold,
    )


def unit_seconds() -> float:
    """Seconds per machine unit on this host (measured), or the idle reference until measured."""
    return HOST.unit_seconds or MACHINE_SECONDS


STAGE_KIND = {"prepare": "interpolator", "select": "scheme", "train": "model"}
"""A stage's rate is learned from runs of the same kind when there are any (e.g. gbr trees from gbr
runs), else from every run with the stage."""
RECENT_RUNS = 40


def prepare_units(f: CostFeatures) -> float:
    if f.interpolator != "IterativeImputer":
        return PREPARE_UNITS[f.interpolator]
    if f.scheme == "MANUAL":
        return ITERATIVE_FOCUSED_UNITS * f.selected
    return ITERATIVE_UNITS_PER_COLUMN * f.candidates


def select_units(f: CostFeatures) -> float:
    if f.scheme == "AFS":
        rounds = elimination_schedule(f.candidates, f.selected)
        return RANK_UNITS_PER_COLUMN * sum(rounds) + RANK_ROUND_UNITS * len(rounds)
    return PCA_UNITS if f.scheme == "PCA" else 0.0


def stage_units(f: CostFeatures) -> dict[str, float]:
    """The cost formula of each stage, in machine units."""
    fits = sum(FIT_COUNTS.values()) if f.model == "all" else FIT_COUNTS[f.model]
    rows = f.training_rows / 200
    return {
        "prepare": 0.0 if f.cached else prepare_units(f),
        "select": select_units(f),
        "train": fits * (FIT_UNITS + f.estimators * TREE_UNITS * (1 + f.selected / 20) * max(rows, 0.1)),
        "history": (HISTORY_UNITS + (HISTORY_CURVE_UNITS if f.history_cold else 0.0)) if f.history else 0.0,
    }


def formula_seconds(f: CostFeatures) -> float:
    """The cost formula in seconds on this host (no measured runs)."""
    return sum(stage_units(f).values()) * unit_seconds()


class StageClock:
    """A progress callback (stage, fraction) that forwards each report and times the stages: a
    report whose name is in `STARTS` begins that stage; any other report ends the running one."""

    STARTS: ClassVar[dict[str, str]] = {
        "imputing predictors": "prepare",
        "selecting predictors": "select",
        "training": "train",
        "blending history": "history",
    }

    def __init__(self, forward: Callable[[str, float], None]) -> None:
        self.forward = forward
        self.durations: dict[str, float] = {}
        self._stage: str | None = None
        self._since = time.perf_counter()

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.perf_counter()
        if self._stage is not None:
            self.durations[self._stage] = self.durations.get(self._stage, 0.0) + now - self._since
        self._stage, self._since = self.STARTS.get(stage), now
        self.forward(stage, fraction)


@dataclass(frozen=True)
class Run:
    features: CostFeatures
    seconds: float
    stages: dict[str, float]
    """Measured seconds of each stage that ran."""


class RunHistory:
    """Thread-safe record of recent runs (cost features, total and per-stage seconds)."""

    def __init__(self, size: int = HISTORY_SIZE) -> None:
        self._runs: deque[Run] = deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, features: CostFeatures, seconds: float, stages: dict[str, float] | None = None) -> None:
        with self._lock:
            self._runs.append(Run(features, seconds, dict(stages or {})))

    def __len__(self) -> int:
        return len(self._runs)

    @staticmethod
    def _rate(runs: list[Run], stage: str, alike=lambda run: True) -> float | None:
        """Median measured seconds per unit of `stage` over the recent runs that had it (and are `alike`)."""
        rates = []
        for run in reversed(runs):
            units = stage_units(run.features)[stage]
            if units > 0 and stage in run.stages and alike(run):
                rates.append(run.stages[stage] / units)
            if len(rates) == RECENT_RUNS:
                break
        return float(np.median(rates)) if rates else None

    def estimate(self, features: CostFeatures) -> Estimate:
        with self._lock:
            runs = list(self._runs)
        units = stage_units(features)
        if not runs:
            return Estimate(
                seconds=round(sum(units.values()) * unit_seconds(), 3),
                method="formula",
                runs=0,
                machine_unit=HOST.unit_seconds,
            )
        seconds = 0.0
        for stage, stage_cost in units.items():
            if stage_cost > 0:
                kind = STAGE_KIND.get(stage)
                same_kind = (
                    (lambda run, kind=kind: getattr(run.features, kind) == getattr(features, kind))
                    if kind
                    else None
                )
                rate = (same_kind and self._rate(runs, stage, same_kind)) or self._rate(runs, stage)
                seconds += stage_cost * (rate or unit_seconds())
        recent = runs[-RECENT_RUNS:]
        seconds += float(np.median([max(run.seconds - sum(run.stages.values()), 0.0) for run in recent]))
        return Estimate(
            seconds=round(seconds, 3), method="formula-scaled", runs=len(runs), machine_unit=HOST.unit_seconds
        )
