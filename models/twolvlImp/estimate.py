"""Expected duration of a predict request on this host, from a cost formula and measured runs.

Cost formula, per stage, in machine units of work (CPU seconds / `bench/calibrate.py`'s figure, on
one thread or two alike; fitted with `bench/estimate_costs.py`, so ratios between requests hold):

    prepare   (skipped when the imputed matrices are cached, in this process or, as the compute
              processes report back, in one of them)
              KNN 0.045 · Simple 0.005 · Iterative 0.006 × candidates (MANUAL: 0.08 per chosen
              predictor: only it and its nearest columns are imputed)
    select    AFS 0.00022 × the columns its rounds rank (all candidates once, then the shortlist of
              a few × number_predictor: `selection.elimination_schedule`) + 0.0006 per round ·
              PCA 0.01 · MANUAL 0
    train     per model family (`all`: 0.84 × the three's sum): a fixed part (CV folds, final
              fit, intervals) plus per tree × (1 + a share per selected predictor beyond the
              first) × rows / 200:
              rfr 0.00083 + 0.00051 × (1 + 0.19 per predictor) · etr 0.0011 + 0.00046 × (1 + 0.16 …) ·
              gbr 0.021 + 0.0062 × (1 + 0.07 …). A forest's trees are its 5 CV folds' and the final
              one fitted beside them (`training.search_forest`); boosting has 23 fits of sequential
              stages (20 CV, the final model, two quantile models). The forests' constants were
              re-fitted on CPU seconds when the formula stopped dividing two-thread forests by a
              speed-up (bench/README.md, "Duration estimates").
    history   0.02 (curves of every training country, the blend's fit), plus 0.1 the first time
              for a (target, year): choosing its curve
    request   0.003 (0.0006 with the matrices cached): validation, the year's catalogue and
              assembling the answer (until runs measure it), plus 0.0035 in
              the API process (`DISPATCH_UNITS`)

A stage's seconds = its units × CPU seconds per unit now × its kind's correction × its wall over
CPU time now. Each run measures its stages' wall-clock and CPU seconds (`StageClock`).

- CPU seconds per unit now (`_learn`): an exponentially weighted mean (`DRIFT_WEIGHT`) of the
  latest runs' CPU seconds over units, all stages together. On a shared 2-core machine a CPU second
  is not a fixed amount of work: every stage's CPU rate moved together, by up to 1.7× within a
  minute, while between kinds at one moment the formula held within ~20 %. So a rate learned from
  one kind a minute ago says less about another kind now than the latest run of any kind.
- The kind's correction (`_correction`): how much more the stage costs than its units say, over
  the recent runs of the same imputer, scheme, model family or history warmth, relative to the rate
  known before each of them; shrunk towards 1 by one run's weight. A kind the formula misjudges
  learns its own cost (and its runs count at their corrected units in the rate now); a kind with
  no run yet keeps the formula.
- Wall over CPU time now (`_drift`): for a single-threaded stage the machine's slowness, the
  weighted mean of the latest runs' contention (`Run.contention`: wall over CPU time of their
  single-threaded stages; 1 with a core to itself, 3 with a third of one); for a forest fitted on
  two threads, the same over the latest runs' two-thread stages, which includes what the second
  thread gained (1.3–1.8× with a core free, nothing with both busy), `THREAD_SPEEDUP` until one ran;
  for boosting, whose CV fits run on two threads and its last three on one, the two mixed by their
  shares (`two_thread_share`).

The first run of each compute process carries one-time costs outside its stages (the catalogues
built once per process); its contention counts only until a later run measured one, and it never
teaches the time outside the stages: that time is the median over later runs with the request's
matrices cached or not (or the `request` units until there is one), plus the measured one-time cost
(or `FRESH_PROCESS_UNITS`) when no live compute process has run a predict yet. With no runs at all,
the formula × this host's machine unit, measured in the background once the service is ready
(`common.machine_speed.HOST`), or `MACHINE_SECONDS` (an idle 2-core machine) until then. Without CPU
times (a run recorded without them) wall-clock seconds stand in for them.
"""

import math
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
from models.twolvlImp.training import CV_FOLDS, forest_threads

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
    "rfr": TreeCost(fixed=0.00083, per_tree=0.00051, per_predictor=0.19),
    "etr": TreeCost(fixed=0.0011, per_tree=0.00046, per_predictor=0.16),
    "gbr": TreeCost(fixed=0.021, per_tree=0.0062, per_predictor=0.07),
}
ALL_SHARE = 0.84
"""`all`'s train units over the sum of the three families': it fits each family's CV models only
(a forest's 5 of 6, boosting's 20 of 23), then refits the winner (measured 0.77–1.0, median 0.84,
8 runs; 0.89 over the forests' re-fitted constants, 0.62–1.08, 8 runs: left at 0.84)."""
TRAIN_THREADS = 2
"""`training.train_and_predict`'s threads: a forest large enough fits its CV folds on two."""
THREAD_SPEEDUP = 1.3
"""How much faster a forest's trees grow on two threads until a run has measured it: up to 1.8 on a
2-core machine with room, 1.0–1.2 measured with both cores busy (load 3–6)."""
GBR_TWO_THREAD_SHARE = 20 / 23
"""Boosting's share of its train work on two threads: its 20 CV fits run in a pool of two threads
(`training.search_gbr`), the final model and the two quantile models on one. Its wall over CPU time
with a core free was 0.68–0.87 against 1.0 for one thread (`bench/estimate_bench.py`, machine unit
1.3 s): counted as single-threaded, it was overestimated 1.2–1.5× on a quiet machine, and it took the
machine's slowness for less than it was."""
HISTORY_UNITS = 0.02
HISTORY_CURVE_UNITS = 0.1
REQUEST_UNITS = 0.003
REQUEST_CACHED_UNITS = 0.0006
"""Time outside the stages until runs measure it: validation and assembling the answer, plus, for a
request whose imputed matrices are not cached yet, its year's catalogue (1–3 ms against 17–70 ms over
220 `bench/estimate_bench.py` requests, machine unit 2.2–3.3 s; with 0.003 for both, the cached second
request of the bench was estimated 1.2–1.5× its 30 ms)."""
DISPATCH_UNITS = 0.0035
"""The API process's part of a request, outside the compute process that times the stages (the
HTTP request and response, handing the call to the compute process and back): 2–18 ms over 30
`bench/estimate_bench.py` requests, median 9 ms, with a machine unit of 2.2–3.3 s."""
FRESH_PROCESS_UNITS = 0.04
"""One-time costs of a compute process's first predict (with the libraries imported and the model
warmed up before the fork), until a first run has measured them: time outside the stages of the first
request of `bench/estimate_bench.py`, 0.074–0.118 s = 0.026–0.050 units (three runs, unit 2.4–2.8 s,
load average 2–3; it was 0.13 units while the compute processes imported the libraries themselves)."""
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


STAGE_KINDS: dict[str, Callable[[CostFeatures], tuple]] = {
    "prepare": lambda f: (f.interpolator,),
    "select": lambda f: (f.scheme,),
    "train": lambda f: (f.model,),
    "history": lambda f: (f.history_cold,),
}
"""What a stage's cost depends on beyond its units: runs of the same kind teach its correction (e.g.
rfr's trees from rfr runs, on one thread or two: rates are CPU time)."""
RECENT_RUNS = 40
"""Runs of a kind its correction is taken over."""
LEARN_RUNS = 200
"""Latest runs the rate now and the corrections are learned from (older ones weigh nothing in the
rate now; bounds an estimate's cost to a few milliseconds)."""


def request_units(cached: bool) -> float:
    return REQUEST_CACHED_UNITS if cached else REQUEST_UNITS


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
    """The train stage's work (CPU time, whatever the threads it runs on)."""
    families = TRAIN_COSTS if f.model == "all" else {f.model: TRAIN_COSTS[f.model]}
    rows = max(f.training_rows / 200, 0.1)
    share = ALL_SHARE if f.model == "all" else 1.0
    return share * sum(
        cost.fixed + f.estimators * cost.per_tree * (1 + cost.per_predictor * (f.selected - 1)) * rows
        for cost in families.values()
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


def two_thread_share(stage: str, f: CostFeatures) -> float:
    """The share of `stage`'s work that runs on two threads: 0 for a stage on one thread (its
    wall-clock over CPU seconds is then how much the other processes on the machine slow it down),
    1 for AFS's ranking forests and a model's forests fitted on two threads (`forest_on_threads`),
    `GBR_TWO_THREAD_SHARE` for boosting."""
    if stage == "select":
        return 1.0 if f.scheme == "AFS" else 0.0
    if stage == "train":
        if f.model == "gbr":
            return GBR_TWO_THREAD_SHARE
        return 1.0 if forest_on_threads(f) else 0.0
    return 0.0


CONTENTION_RANGE = (0.5, 20.0)
"""A run's measured wall over CPU time is taken within these bounds (a clock glitch stays harmless)."""
CONTENTION_MIN_CPU_SECONDS = 0.1
"""Stages shorter than this in CPU time tell too little of the wall over CPU time."""


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

    def work(self, stage: str) -> float:
        """The stage's CPU seconds: its work, whatever the load and threads (its wall-clock seconds
        when CPU time was not measured)."""
        return (self.cpu_seconds or {}).get(stage, self.stages[stage])

    def wall_over_cpu(self, two_threads: bool) -> float | None:
        """How many times longer than their CPU time its single-threaded stages (`two_threads`
        False: its contention, the machine's slowness while it ran; 1 with a core to itself, 3 with a
        third of one) or its two-thread stages (`two_threads` True: the contention over what the
        second thread gained) took; None without such stages long enough to tell (or CPU times). A
        stage partly on two threads (boosting) tells neither."""
        if not self.cpu_seconds:
            return None
        measured = [
            stage
            for stage in self.stages
            if self.units.get(stage, 0.0) > 0
            and stage in self.cpu_seconds
            and two_thread_share(stage, self.features) == (1.0 if two_threads else 0.0)
        ]
        cpu = sum(self.cpu_seconds[stage] for stage in measured)
        if cpu < CONTENTION_MIN_CPU_SECONDS:
            return None
        low, high = CONTENTION_RANGE
        return min(max(sum(self.stages[stage] for stage in measured) / cpu, low), high)

    @cached_property
    def contention(self) -> float | None:
        return self.wall_over_cpu(False)

    @cached_property
    def two_thread_factor(self) -> float | None:
        return self.wall_over_cpu(True)


DRIFT_WEIGHT = 0.8
"""How much the latest run's contention counts in the slowness now (an exponentially weighted
mean, in log terms, over the runs in order): the machine's load on a shared host changes within a
minute, so the latest runs tell most, and a single outlier run is damped."""


class RunHistory:
    """Thread-safe record of recent runs (cost features, total, per-stage wall-clock and CPU seconds).

    A stage's duration = its units × the CPU seconds per unit its kind costs × the wall over CPU time
    of its stages now: the machine's slowness for a single-threaded stage, the two-thread factor for
    a forest fitted on two threads (each a weighted mean of the latest runs', `DRIFT_WEIGHT`). So a
    rate learned while the machine was busy serves when it is idle, rates carry over between kinds
    whatever their threads, and the estimate follows the load without a run of each kind."""

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
        return _drift(runs, "contention") or 1.0

    @staticmethod
    def _outside_seconds(runs: list[Run], fresh_process: bool, cached: bool) -> float:
        """Time outside the stages: the median over recent later-than-first runs, of those with the
        request's matrices cached or not when there are such (a request whose are not also builds its
        year's catalogue: 17–70 ms more on a 2-core machine, against 1–3 ms), the request units until
        there is one; plus the first run's one-time costs when the request starts a process."""
        later = [run for run in runs if not run.fresh]
        alike = [run for run in later if run.features.cached == cached] or later
        warm = [run.outside for run in alike][-RECENT_RUNS:]
        seconds = float(np.median(warm)) if warm else request_units(cached) * unit_seconds()
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
            seconds = sum(cost * _wall_factor(stage, features, 1.0, None) for stage, cost in units.items())
            once = FRESH_PROCESS_UNITS if fresh_process else 0.0
            return Estimate(
                seconds=round(
                    (seconds + request_units(features.cached) + DISPATCH_UNITS + once) * unit_seconds(), 3
                ),
                method="formula",
                runs=0,
                machine_unit=HOST.unit_seconds,
            )
        slowness = _drift(runs, "contention") or 1.0
        two_threads = _drift(runs, "two_thread_factor")
        now, ratios = _learn(runs[-LEARN_RUNS:])
        seconds = 0.0
        for stage, stage_cost in units.items():
            if stage_cost > 0:
                rate = (now or unit_seconds()) * _correction(
                    ratios.get((stage, STAGE_KINDS[stage](features)), ())
                )
                seconds += stage_cost * rate * _wall_factor(stage, features, slowness, two_threads)
        seconds += (
            self._outside_seconds(runs, fresh_process, features.cached) + DISPATCH_UNITS * unit_seconds()
        )
        return Estimate(
            seconds=round(seconds, 3), method="formula-scaled", runs=len(runs), machine_unit=HOST.unit_seconds
        )


def _wall_factor(stage: str, f: CostFeatures, slowness: float, two_threads: float | None) -> float:
    """Wall-clock over CPU seconds of `stage` now: the slowness on one thread; on two, the latest
    runs' two-thread factor (the slowness over `THREAD_SPEEDUP` until a run has measured one); the
    two mixed by `two_thread_share` for a stage partly on two threads."""
    share = two_thread_share(stage, f)
    on_two = two_threads if two_threads is not None else slowness / THREAD_SPEEDUP
    return (1 - share) * slowness + share * on_two


def _drift(runs: list[Run], measure: str) -> float | None:
    """The weighted mean (`DRIFT_WEIGHT`, in log terms) of the runs' `measure` (`contention` or
    `two_thread_factor`) in order, a process's first runs counting only while there are no others;
    None until a run has measured it."""
    measured = [(run.fresh, value) for run in runs if (value := getattr(run, measure)) is not None]
    counted = [value for fresh, value in measured if not fresh] or [value for _, value in measured]
    log_now: float | None = None
    for value in counted:
        step = float(np.log(value))
        log_now = step if log_now is None else (1 - DRIFT_WEIGHT) * log_now + DRIFT_WEIGHT * step
    return None if log_now is None else float(np.exp(log_now))


def _learn(runs: list[Run]) -> tuple[float | None, dict[tuple, deque[float]]]:
    """The machine's CPU seconds per unit now, and per (stage, kind) the log ratios its runs showed
    over the rate known before each; one pass over the runs in order.

    The rate now is the weighted mean (`DRIFT_WEIGHT`, in log terms) of the runs' CPU seconds over
    their units, each stage's units times its kind's correction known before the run (`_correction`),
    so a kind the formula undercosts does not pass for a slower machine. A CPU second is not a fixed
    amount of work on a shared machine: on a 2-core host every stage's CPU seconds per unit moved
    together by up to 1.7× within a minute (with the machine's other work), so the latest runs, of any kind,
    tell the rate of every kind better than the kind's own earlier runs."""
    log_rate: float | None = None
    ratios: dict[tuple, deque[float]] = {}
    for run in runs:
        work = units = 0.0
        seen = []
        for stage in run.stages:
            cost, done = run.units.get(stage, 0.0), run.work(stage)
            if cost <= 0 or done <= 0:
                continue
            key = (stage, STAGE_KINDS[stage](run.features))
            work, units = work + done, units + cost * _correction(ratios.get(key, ()))
            if log_rate is not None:
                seen.append((key, math.log(done / cost) - log_rate))
        for key, ratio in seen:
            ratios.setdefault(key, deque(maxlen=RECENT_RUNS)).append(ratio)
        if units > 0:
            step = math.log(work / units)
            log_rate = step if log_rate is None else (1 - DRIFT_WEIGHT) * log_rate + DRIFT_WEIGHT * step
    return (None if log_rate is None else math.exp(log_rate)), ratios


def _correction(ratios: deque[float] | tuple[()]) -> float:
    """How much more a stage of a kind (`STAGE_KINDS`) costs than its units say: the geometric mean of
    its recent runs' ratios to the rate known before each, with one run's weight on 1 (the formula),
    so one noisy run moves it little; 1 for a kind no run has had."""
    return math.exp(sum(ratios) / (len(ratios) + 1))
