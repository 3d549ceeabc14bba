"""Expected duration of a predict request on this host, from a cost formula and measured runs.

Cost formula, per stage, in machine units (seconds / `bench/calibrate.py`'s figure; fitted on a
2-core machine under load 2–8 from interleaved timings, so ratios between requests hold):

    prepare   (skipped when the imputed matrices are cached, in this process or, as the compute
              processes report back, in one of them)
              KNN 0.045 · Simple 0.005 · Iterative 0.006 × candidates (MANUAL: 0.08 per chosen
              predictor: only it and its nearest columns are imputed)
    select    AFS 0.00022 × the columns its rounds rank (all candidates once, then the shortlist of
              a few × number_predictor: `selection.elimination_schedule`) + 0.0006 per round ·
              PCA 0.01 · MANUAL 0
    train     per model family (`all`: 0.76 × the three's sum): a fixed part (CV folds, final
              fit, intervals) plus per tree × (1 + a share per selected predictor beyond the
              first) × rows / 200:
              rfr 0.00046 + 0.00055 × (1 + 0.25 per predictor) · etr 0.00043 + 0.00054 × (1 + 0.17 …) ·
              gbr 0.021 + 0.0062 × (1 + 0.07 …); a forest whose CV folds fit on two threads
              (`training.forest_threads`) divides its trees' part by 1.3. A forest's trees are its
              5 CV folds' and the final one fitted beside them (`training.search_forest`); boosting
              has 23 fits of sequential stages (20 CV, the final model, two quantile models).
              Re-fitted on CPU seconds from 68 timings in one sitting when the forests' trees came
              to be grown by `forest.fit_forests` (rfr and etr ≈ 5× cheaper; bench/README.md,
              "Duration estimates").
    history   0.02 (curves of every training country, the blend's fit), plus 0.1 the first time
              for a (target, year): choosing its curve
    request   0.003: validation and assembling the answer (until runs measure it)

A stage's seconds = its units × its kind's seconds per unit on a core of its own × the machine's
slowness when it runs. Each run measures its stages' wall-clock and CPU seconds (`StageClock`); its
contention, wall over CPU time of its single-threaded stages (of all its stages when those are too
short to tell; `Run.contention`: 1 with a core to itself, 3 when it gets a third of one), is its
slowness. Its rates divided by it are what its kinds cost on an unloaded core, whatever the load
was; an estimate multiplies them by the slowness now, an exponentially weighted mean of the latest
runs' contention (`DRIFT_WEIGHT`). On a shared machine the load changes within a minute: a rate
learned a minute earlier no longer says how long a stage takes now, while the work it measures
still holds. Without CPU times (a run recorded without them) the slowness stays 1 and rates are
plain wall-clock seconds per unit.

Seconds per unit, stage by stage: the median over this process's recent runs that had the stage
(of the same imputer, scheme, or model family and thread count, when there are such runs) of
(measured seconds of the stage / its units / the run's slowness). The first run of each compute
process carries one-time costs (lazy imports, catalogues built once per process, the thread-pool
scan): it teaches a stage's rate only while no later run has had that stage, its contention counts
only until a later run measured one, and it never teaches the time outside the stages; that time is
the median over later runs (or the `request` units until there is one), plus the measured one-time
cost (or `FRESH_PROCESS_UNITS`) when no live compute process has run a predict yet. For a stage no
run has had, the seconds per unit of the latest runs, all their stages together; with no runs at
all, this host's machine unit, measured in the background once the service is ready
(`common.machine_speed.HOST`), or `MACHINE_SECONDS` (an idle 2-core machine) until then. So the
estimate follows the load and speed of the machine that serves it, and each stage learns its own
rate (AFS selection does not scale like tree fitting).
"""

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from common.machine_speed import HOST
from models.twolvlImp.schemas import Estimate
from models.twolvlImp.selection import elimination_schedule
from models.twolvlImp.training import CV_FOLDS, FORESTS, forest_threads

MACHINE_SECONDS = 1.8
PREPARE_UNITS = {"KNNImputer": 0.045, "SimpleImputer": 0.005}
ITERATIVE_UNITS_PER_COLUMN = 0.006
ITERATIVE_FOCUSED_UNITS = 0.08
RANK_UNITS_PER_COLUMN = 0.00022
RANK_ROUND_UNITS = 0.0006
PCA_UNITS = 0.01


@dataclass(frozen=True)
class TreeCost:
    """Train-stage units of one model family: `fixed` + trees × `per_tree` × (1 + `per_predictor`
    × (selected − 1)) × rows / 200."""

    fixed: float
    per_tree: float
    per_predictor: float


TRAIN_COSTS = {
    "rfr": TreeCost(fixed=0.00046, per_tree=0.00055, per_predictor=0.25),
    "etr": TreeCost(fixed=0.00043, per_tree=0.00054, per_predictor=0.17),
    "gbr": TreeCost(fixed=0.021, per_tree=0.0062, per_predictor=0.07),
}
ALL_SHARE = 0.84
"""`all`'s train units over the sum of the three families': it fits each family's CV models only
(a forest's 5 of 6, boosting's 20 of 23), then refits the winner (measured 0.77–1.0, median 0.84,
8 runs)."""
TRAIN_THREADS = 2
"""`training.train_and_predict`'s threads: a forest large enough fits its CV folds on two."""
THREAD_SPEEDUP = 1.3
"""How much faster a forest's trees grow on two threads: up to 1.8 on a 2-core machine with room,
1.0–1.2 measured with both cores busy (load 4–6); the learned rates keep two-thread forests apart."""
HISTORY_UNITS = 0.02
HISTORY_CURVE_UNITS = 0.1
REQUEST_UNITS = 0.003
FRESH_PROCESS_UNITS = 0.13
"""One-time costs of a compute process's first predict, with the libraries imported before the fork
(not broken down further): the first request of `bench/estimate_bench.py` took 0.13 units more than
its formula (median of six runs, −0.11 to 0.30, load average 7–11), and a forked process's first
predict ~0.6 CPU seconds more than its second."""
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


Kind = Callable[[CostFeatures], tuple]
STAGE_KINDS: dict[str, tuple[Kind, ...]] = {
    "prepare": (lambda f: (f.interpolator,),),
    "select": (lambda f: (f.scheme,),),
    "train": (lambda f: (f.model, forest_on_threads(f)), lambda f: (f.model,)),
    "history": (),
}
"""A stage's rate is learned from the runs most alike that have it: e.g. a two-thread rfr from
two-thread rfr runs, else from rfr runs, else from every run with the stage."""
RECENT_RUNS = 40
RECENT_RATE_RUNS = 5
"""Runs that tell how fast the machine is now (`RunHistory._recent_rate`)."""


def _any_kind(f: CostFeatures) -> tuple:
    """Every run is of this kind (the last resort of `STAGE_KINDS`)."""
    return ()


def _alike(kind: Kind, features: CostFeatures) -> Callable[["Run"], bool]:
    return lambda run: kind(run.features) == kind(features)


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


def forest_on_threads(f: CostFeatures) -> bool:
    """Whether a forest of this request fits its CV folds on several threads (`training.search_forest`)."""
    return forest_threads(f.estimators * CV_FOLDS, f.training_rows, f.selected, TRAIN_THREADS) > 1


def train_units(f: CostFeatures) -> float:
    families = TRAIN_COSTS if f.model == "all" else {f.model: TRAIN_COSTS[f.model]}
    rows = max(f.training_rows / 200, 0.1)
    threaded = forest_on_threads(f)
    share = ALL_SHARE if f.model == "all" else 1.0
    return share * sum(
        cost.fixed
        + f.estimators
        * cost.per_tree
        * (1 + cost.per_predictor * (f.selected - 1))
        * rows
        / (THREAD_SPEEDUP if threaded and family in FORESTS else 1.0)
        for family, cost in families.items()
    )


def stage_units(f: CostFeatures) -> dict[str, float]:
    """The cost formula of each stage, in machine units."""
    return {
        "prepare": 0.0 if f.cached else prepare_units(f),
        "select": select_units(f),
        "train": train_units(f),
        "history": (HISTORY_UNITS + (HISTORY_CURVE_UNITS if f.history_cold else 0.0)) if f.history else 0.0,
    }


class StageClock:
    """A progress callback (stage, fraction) that forwards each report and times the stages, in
    wall-clock and in CPU seconds of the process: a report whose name is in `STARTS` begins that
    stage; any other report ends the running one."""

    STARTS: ClassVar[dict[str, str]] = {
        "imputing predictors": "prepare",
        "selecting predictors": "select",
        "training": "train",
        "blending history": "history",
    }

    def __init__(self, forward: Callable[[str, float], None]) -> None:
        self.forward = forward
        self.durations: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        self._stage: str | None = None
        self._since = time.perf_counter()
        self._cpu_since = time.process_time()

    def __call__(self, stage: str, fraction: float) -> None:
        now, cpu_now = time.perf_counter(), time.process_time()
        if self._stage is not None:
            self.durations[self._stage] = self.durations.get(self._stage, 0.0) + now - self._since
            self.cpu_seconds[self._stage] = self.cpu_seconds.get(self._stage, 0.0) + cpu_now - self._cpu_since
        self._stage, self._since, self._cpu_since = self.STARTS.get(stage), now, cpu_now
        self.forward(stage, fraction)


def single_threaded(stage: str, f: CostFeatures) -> bool:
    """Whether `stage` of a request computes on one thread: then its wall-clock over CPU seconds is
    how much the other processes on the machine slow it down. AFS ranks with forests that may fit on
    two threads, and so may the model's forests (`forest_on_threads`)."""
    if stage == "select":
        return f.scheme != "AFS"
    if stage == "train":
        return f.model == "gbr" or not forest_on_threads(f)
    return True


CONTENTION_RANGE = (0.5, 20.0)
"""A run's measured contention is taken within these bounds (a clock glitch stays harmless)."""
CONTENTION_MIN_CPU_SECONDS = 0.1
"""Single-threaded stages shorter than this in CPU time tell too little of the contention."""


@dataclass(frozen=True)
class Run:
    features: CostFeatures
    seconds: float
    stages: dict[str, float]
    """Measured seconds of each stage that ran."""
    fresh: bool = False
    """The first predict of its process (one-time costs included)."""
    pid: int | None = None
    """The process that ran it."""
    cpu_seconds: dict[str, float] | None = None
    """CPU seconds of each stage, when measured."""

    @property
    def outside(self) -> float:
        """Seconds outside the timed stages (validation, assembling the answer)."""
        return max(self.seconds - sum(self.stages.values()), 0.0)

    @cached_property
    def units(self) -> dict[str, float]:
        """`stage_units` of its features (computed once: every estimate reads every run's)."""
        return stage_units(self.features)

    @cached_property
    def contention(self) -> float | None:
        """How many times longer than its CPU time the run's single-threaded stages took: the
        machine's slowness while it ran (1: a core to itself; 3: a third of one), or None when it
        had no such stage long enough to tell (or its CPU time was not measured)."""
        if not self.cpu_seconds:
            return None
        units = self.units
        timed = [stage for stage in self.stages if units.get(stage, 0.0) > 0 and stage in self.cpu_seconds]
        measured = [stage for stage in timed if single_threaded(stage, self.features)]
        cpu = sum(self.cpu_seconds[stage] for stage in measured)
        if cpu < CONTENTION_MIN_CPU_SECONDS:
            measured = timed
            cpu = sum(self.cpu_seconds[stage] for stage in measured)
        if cpu < CONTENTION_MIN_CPU_SECONDS:
            return None
        low, high = CONTENTION_RANGE
        return min(max(sum(self.stages[stage] for stage in measured) / cpu, low), high)


DRIFT_WEIGHT = 0.8
"""How much the latest run's contention counts in the slowness now (an exponentially weighted
mean, in log terms, over the runs in order): the machine's load on a shared host changes within a
minute, so the latest runs tell most, and a single outlier run is damped."""


class RunHistory:
    """Thread-safe record of recent runs (cost features, total, per-stage wall-clock and CPU seconds).

    A stage's duration = its units × the seconds per unit its kind costs on an unloaded core × the
    machine's slowness when it runs. Each run measures its slowness (`Run.contention`); the rates
    learned from it are divided by it, and an estimate multiplies them by the slowness now, a
    weighted mean of the latest runs' (`DRIFT_WEIGHT`). So a rate learned while the machine was
    busy serves when it is idle, and the estimate follows the load without a run of each kind."""

    def __init__(self, size: int = HISTORY_SIZE) -> None:
        self._runs: deque[Run] = deque(maxlen=size)
        self._lock = threading.Lock()

    def record(
        self,
        features: CostFeatures,
        seconds: float,
        stages: dict[str, float] | None = None,
        fresh: bool = False,
        pid: int | None = None,
        cpu_seconds: dict[str, float] | None = None,
    ) -> None:
        with self._lock:
            self._runs.append(
                Run(
                    features,
                    seconds,
                    dict(stages or {}),
                    fresh,
                    pid,
                    dict(cpu_seconds) if cpu_seconds else None,
                )
            )

    def __len__(self) -> int:
        return len(self._runs)

    def ran_in(self, pids: Iterable[int]) -> bool:
        """Whether one of these processes has recorded a run."""
        wanted = set(pids)
        with self._lock:
            return any(run.pid in wanted for run in self._runs)

    @property
    def slowness(self) -> float:
        """The machine's slowness now (1 until a run has measured it)."""
        with self._lock:
            runs = list(self._runs)
        return _slowness(runs)[1]

    @staticmethod
    def _rate(
        runs: list[Run],
        slowness: dict[int, float],
        stage: str,
        alike: Callable[[Run], bool] = lambda run: True,
    ) -> float | None:
        """Median seconds per unit of `stage` on an unloaded core over the recent runs that had it (and
        are `alike`): the runs after their process's first, or the first ones while there are no others."""
        for candidates in ([run for run in runs if not run.fresh], runs):
            rates = []
            for run in reversed(candidates):
                units = run.units[stage]
                if units > 0 and stage in run.stages and alike(run):
                    rates.append(run.stages[stage] / units / slowness[id(run)])
                if len(rates) == RECENT_RUNS:
                    break
            if rates:
                return float(np.median(rates))
        return None

    @staticmethod
    def _recent_rate(runs: list[Run], slowness: dict[int, float]) -> float | None:
        """Seconds per unit on an unloaded core of the latest runs, all stages together (later-than-
        first runs when there are any): for a stage no run has had yet."""
        warm = [run for run in runs if not run.fresh] or runs
        rates = []
        for run in warm[-RECENT_RATE_RUNS:]:
            units = sum(cost for stage, cost in run.units.items() if stage in run.stages)
            if units > 0:
                rates.append(sum(run.stages.values()) / units / slowness[id(run)])
        return float(np.median(rates)) if rates else None

    @staticmethod
    def _outside_seconds(runs: list[Run], fresh_process: bool) -> float:
        """Time outside the stages: the median over recent later-than-first runs (the request units
        until there is one), plus the first run's one-time costs when the request starts a process."""
        warm = [run.outside for run in runs if not run.fresh][-RECENT_RUNS:]
        seconds = float(np.median(warm)) if warm else REQUEST_UNITS * unit_seconds()
        if fresh_process:
            first = [run.outside for run in runs if run.fresh][-RECENT_RUNS:]
            once = float(np.median(first)) - seconds if first and warm else 0.0
            seconds += once if once > 0 else FRESH_PROCESS_UNITS * unit_seconds()
        return seconds

    def estimate(self, features: CostFeatures, fresh_process: bool = False) -> Estimate:
        """Expected seconds of a request with `features`; `fresh_process`: it will be the first
        predict of its compute process."""
        with self._lock:
            runs = list(self._runs)
        units = stage_units(features)
        if not runs:
            once = FRESH_PROCESS_UNITS if fresh_process else 0.0
            return Estimate(
                seconds=round((sum(units.values()) + REQUEST_UNITS + once) * unit_seconds(), 3),
                method="formula",
                runs=0,
                machine_unit=HOST.unit_seconds,
            )
        slowness, now = _slowness(runs)
        seconds, recent = 0.0, self._recent_rate(runs, slowness)
        for stage, stage_cost in units.items():
            if stage_cost > 0:
                rate = None
                for kind in (*STAGE_KINDS[stage], _any_kind):
                    rate = self._rate(runs, slowness, stage, _alike(kind, features))
                    if rate is not None:
                        break
                rate = rate or recent
                seconds += stage_cost * (rate * now if rate else unit_seconds())
        seconds += self._outside_seconds(runs, fresh_process)
        return Estimate(
            seconds=round(seconds, 3), method="formula-scaled", runs=len(runs), machine_unit=HOST.unit_seconds
        )


def _slowness(runs: list[Run]) -> tuple[dict[int, float], float]:
    """The slowness each run ran at (by `id`: its measured contention; for a run that measured none,
    the slowness known then, or the first one measured), and the slowness now: the weighted mean
    (`DRIFT_WEIGHT`, in log terms) of the runs' contention in order, a process's first runs counting
    only while there are no others."""
    counted = {id(run) for run in ([run for run in runs if not run.fresh] or runs)}
    measured = {id(run): run.contention for run in runs}
    first = next((value for value in measured.values() if value is not None), 1.0)
    log_now: float | None = None
    at: dict[int, float] = {}
    for run in runs:
        contention = measured[id(run)]
        if contention is not None and id(run) in counted:
            step = float(np.log(contention))
            log_now = step if log_now is None else (1 - DRIFT_WEIGHT) * log_now + DRIFT_WEIGHT * step
        known = first if log_now is None else float(np.exp(log_now))
        at[id(run)] = contention if contention is not None else known
    return at, first if log_now is None else float(np.exp(log_now))
