"""Synchronous entry points: `predict(body, indicators)` and `estimate(body, indicators)`.

Runnable without the app (a job worker can import and call them). `predict` validates against the
catalog (InvalidInput with what is valid), reuses the imputed matrices of (year, target,
interpolator) when another request already built them, runs the model and records its duration
for `estimate`.
"""

import logging
import os
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache

from common.cache import Memo
from common.calls import in_parent
from common.compute import installed_processes
from common.constants import SIDS_SET
from common.errors import InvalidInput
from common.progress import Progress
from common.shared_store import shared_store
from common.telemetry import set_attributes, span
from models.twolvlImp import catalog
from models.twolvlImp.backtest import run_backtest
from models.twolvlImp.estimate import CostFeatures, RunHistory, StageClock, cost_features
from models.twolvlImp.history import blend
from models.twolvlImp.imputation import Options, clip_to_support, run
from models.twolvlImp.libraries import load_libraries
from models.twolvlImp.preprocess import Prepared, prepare
from models.twolvlImp.schemas import (
    BacktestRequest,
    BacktestResponse,
    Estimate,
    HistoryIndicatorJson,
    HistoryYearResult,
    IndicatorJson,
    PredictResponse,
    Scheme,
    TrainRequest,
    YearResult,
)
from shared_dataloader import IndicatorDataset

log = logging.getLogger(__name__)

SEED = 0
PREPARED_CACHE_SIZE = 16
BLAS_THREADS = 1
"""BLAS threads of a computation (KNN distances, PCA's SVD): compute processes already run side by
side, one per core, and a multi-threaded BLAS on a busy core spins (measured 2–6× slower, with
outliers of 20×, for the 214 × 380 matrices here). Tree fitting threads are joblib's, not BLAS's."""
BACKTEST_CACHE_SIZE = 40


class PreparedCache:
    """Thread-safe LRU of imputed matrices keyed by (fingerprint, year, target, interpolator, …),
    with the process's shared store (common.shared_store; Redis on queue workers) as a second
    level, so a matrix built by one job serves the next jobs on every worker."""

    def __init__(self, size: int, name: str) -> None:
        self.name = name
        self._local = Memo(size)

    def __contains__(self, key: tuple) -> bool:
        return key in self._local

    def get(self, key: tuple, build: Callable[[], Prepared]) -> Prepared:
        """Traced as `prepare_data` with `sids.cache`: memory, shared or miss (built here)."""
        with span("prepare_data", cache="memory" if key in self._local else None):
            return self._local.get(key, lambda: self._shared_or_build(key, build))

    def _shared_or_build(self, key: tuple, build: Callable[[], Prepared]) -> Prepared:
        shared, shared_key = shared_store(), f"twolvlImp:{self.name}:{key!r}"
        value = self._read(shared.get(shared_key)) if shared else None
        set_attributes(cache="miss" if value is None else "shared")
        if value is None:
            value = build()
            if shared:
                shared.put(shared_key, value.to_bytes())
        return value

    @staticmethod
    def _read(stored: bytes | None) -> Prepared | None:
        """The shared entry, or None when there is none or it cannot be read (then it is rebuilt)."""
        if stored is None:
            return None
        try:
            return Prepared.from_bytes(stored)
        except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
            log.warning("unreadable shared matrices (%s); rebuilding them", exc)
            return None


class ProcessCaches:
    """What each compute process holds in its caches, as it reports after every predict (predictions
    run in those processes, estimates in the API process). Per process an LRU that mirrors the
    process's own (`PREPARED`: same size, same order of use), so an estimate knows whether the
    matrices of a request are already imputed in some live process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._held: dict[tuple[int, str], OrderedDict[tuple, None]] = {}
        self._lock = threading.Lock()

    def note(self, pid: int, kind: str, key: tuple) -> None:
        with self._lock:
            held = self._held.setdefault((pid, kind), OrderedDict())
            held[key] = None
            held.move_to_end(key)
            while len(held) > self.size:
                held.popitem(last=False)

    def holds(self, kind: str, key: tuple) -> bool:
        """Whether this process or a live compute process holds `key` (forgets the processes gone)."""
        live = _live_pids()
        with self._lock:
            for gone in [owner for owner in self._held if owner[0] not in live]:
                del self._held[gone]
            return any(key in held for (pid, held_kind), held in self._held.items() if held_kind == kind)


# Process-wide: imputed matrices shared by requests (and by backtests, per hidden fold), and
# measured runs for `estimate`.
PREPARED = PreparedCache(PREPARED_CACHE_SIZE, "prepared")
FOLD_PREPARED = PreparedCache(BACKTEST_CACHE_SIZE, "fold-prepared")
RUN_TIMES = RunHistory()
CACHED_ELSEWHERE = ProcessCaches(PREPARED_CACHE_SIZE)
BLENDED: set[tuple] = set()
"""(fingerprint, target, year) whose history curve this process has chosen (its first blend is slower)."""
_PREDICTED_IN: set[int] = set()
"""The process (by pid, so a forked child starts empty-handed) once it has run a predict: its first
carries one-time costs that `estimate` keeps apart."""


def record_run(
    features: CostFeatures,
    seconds: float,
    stages: dict[str, float] | None = None,
    fresh: bool = False,
    pid: int | None = None,
    cpu_seconds: dict[str, float] | None = None,
) -> None:
    """Keep a measured run for `estimate` (in the API process, where estimates are made)."""
    RUN_TIMES.record(features, seconds, stages, fresh, pid, cpu_seconds)


def _needed(body: TrainRequest) -> tuple[str, ...]:
    """The columns the request trains on, when the imputation can be limited to them (MANUAL
    with IterativeImputer; `preprocess.prepare`); empty when every candidate is imputed."""
    if body.scheme is Scheme.MANUAL and body.interpolator.name == "IterativeImputer":
        return tuple(sorted(body.manual_predictors or ()))
    return ()


def note_cached(pid: int, kind: str, key: tuple) -> None:
    """Record (in the API process) that process `pid` now holds `key` in its `kind` cache."""
    CACHED_ELSEWHERE.note(pid, kind, key)


def _key(indicators: IndicatorDataset, body: TrainRequest) -> tuple:
    return (indicators.fingerprint, body.target_year, body.target, body.interpolator.name, *_needed(body))


def _history_key(indicators: IndicatorDataset, body: TrainRequest) -> tuple:
    return (indicators.fingerprint, body.target, body.target_year)


def validate(body: TrainRequest, indicators: IndicatorDataset) -> tuple[str, ...]:
    """Check the request against the catalog; return the target's valid predictors."""
    valid = catalog.check_target_request(indicators, body.target_year, body.dataset, body.target)
    if body.scheme is Scheme.MANUAL:
        catalog.check_manual(valid, body.target, body.manual_predictors or [], body.target_year)
    else:
        # The request model requires number_predictor for AFS and PCA (required_if, a 422 before this).
        assert body.number_predictor is not None
        catalog.check_count(valid, body.number_predictor)
    return valid


def _options(body: TrainRequest) -> Options:
    return Options(
        scheme=body.scheme.name,
        model=body.model.name,
        estimators=body.estimators,
        interval=body.interval.name,
        number_predictor=body.number_predictor,
        manual_predictors=tuple(body.manual_predictors or ()),
        seed=SEED,
    )


@lru_cache(maxsize=1)
def thread_pools():
    """threadpoolctl's handle on the thread pools of the loaded libraries, found once per process
    (`threadpool_limits` scans every loaded shared library on each call: 2–9 ms a request)."""
    from threadpoolctl import ThreadpoolController

    load_libraries()  # the BLAS libraries to limit are the ones these load
    return ThreadpoolController()


def _one_blas_thread():
    return thread_pools().limit(limits=BLAS_THREADS, user_api="blas")


def predict(
    body: TrainRequest, indicators: IndicatorDataset, progress: Progress | None = None
) -> PredictResponse:
    started = time.perf_counter()
    with _one_blas_thread():
        return _predict(body, indicators, progress, started)


def _predict(
    body: TrainRequest, indicators: IndicatorDataset, progress: Progress | None, started: float
) -> PredictResponse:
    report = StageClock(progress or (lambda stage, fraction: None))
    report("validating", 0.0)
    valid = validate(body, indicators)
    key = _key(indicators, body)
    cached = key in PREPARED
    report("imputing predictors", 0.05)
    table = indicators.year_table(body.target_year)
    try:
        prepared = PREPARED.get(
            key, lambda: prepare(table, body.target, SIDS_SET, body.interpolator.name, SEED, _needed(body))
        )
        observed = table.loc[table.index.isin(SIDS_SET), body.target]
        result = run(prepared, observed, indicators.meta["category"], _options(body), report)
    except ValueError as exc:
        raise InvalidInput(f"Cannot train on this request: {exc}.") from exc
    support = indicators.support(body.target)
    history_cold = body.history and _history_key(indicators, body) not in BLENDED
    if body.history:
        report("blending history", 0.96)
        blended = blend(result, indicators.indicator_table(body.target), body.target_year)
        nested = HistoryIndicatorJson.of_year(
            body.target_year, HistoryYearResult(**clip_to_support(blended, support))
        )
        BLENDED.add(_history_key(indicators, body))
        in_parent(note_cached, os.getpid(), "blended", _history_key(indicators, body))
    else:
        nested = IndicatorJson.of_year(body.target_year, YearResult(**clip_to_support(result, support)))
    report("done", 1.0)
    in_parent(note_cached, os.getpid(), "prepared", key)
    fresh = os.getpid() not in _PREDICTED_IN
    _PREDICTED_IN.add(os.getpid())
    in_parent(
        record_run,
        cost_features(body, len(valid), len(prepared.y_train), cached, history_cold),
        time.perf_counter() - started,
        report.durations,
        fresh,
        os.getpid(),
        report.cpu_seconds,
    )
    return PredictResponse(indicatorJson=nested)


def backtest(
    body: BacktestRequest, indicators: IndicatorDataset, progress: Progress | None = None
) -> BacktestResponse:
    """Hide the target's observed SIDS values of the year in `body.folds` folds and score the model."""
    with _one_blas_thread():
        return _backtest(body, indicators, progress)


def _backtest(
    body: BacktestRequest, indicators: IndicatorDataset, progress: Progress | None
) -> BacktestResponse:
    validate(body, indicators)
    table = indicators.year_table(body.target_year)
    reporting = int(table.loc[table.index.isin(SIDS_SET), body.target].notna().sum())
    if reporting < 2:
        raise InvalidInput(
            f"Only {reporting} SIDS reports {body.target} in {body.target_year}; a backtest "
            "needs at least 2. Choose another target or year.",
            field="body.target",
        )
    if reporting < body.folds:
        raise InvalidInput(
            f"Only {reporting} SIDS report {body.target} in {body.target_year}; folds must "
            f"be between 2 and {reporting} for this target and year.",
            field="body.folds",
        )
    key = _key(indicators, body)

    def prepare_fold(masked, hidden):
        return FOLD_PREPARED.get(
            (*key, hidden),
            lambda: prepare(masked, body.target, SIDS_SET, body.interpolator.name, SEED, _needed(body)),
        )

    try:
        result = run_backtest(
            table,
            indicators.indicator_table(body.target),
            body.target,
            body.target_year,
            SIDS_SET,
            indicators.meta["category"],
            _options(body),
            body.folds,
            body.history,
            prepare_fold,
            indicators.support(body.target),
            progress,
        )
    except ValueError as exc:
        raise InvalidInput(f"Cannot backtest this request: {exc}.") from exc
    return BacktestResponse(**result)


def predict_seconds(body: TrainRequest, indicators: IndicatorDataset) -> float:
    return estimate(body, indicators).seconds


def backtest_seconds(body: BacktestRequest, indicators: IndicatorDataset) -> float:
    """Each fold imputes the masked table and trains like a predict, plus the final fit: about
    folds + 1 predicts (measured 4–7× a predict for 5 folds)."""
    return estimate(body, indicators).seconds * (body.folds + 1)


def estimate(body: TrainRequest, indicators: IndicatorDataset) -> Estimate:
    valid = validate(body, indicators)
    rows = catalog.year_catalog(indicators, body.target_year)
    training_rows = int(indicators.year_table(rows.year)[body.target].notna().sum())
    key, history_key = _key(indicators, body), _history_key(indicators, body)
    features = cost_features(
        body,
        len(valid),
        training_rows,
        key in PREPARED or CACHED_ELSEWHERE.holds("prepared", key),
        body.history and history_key not in BLENDED and not CACHED_ELSEWHERE.holds("blended", history_key),
    )
    return RUN_TIMES.estimate(features, fresh_process=not RUN_TIMES.ran_in(_live_pids()))


def _live_pids() -> set[int]:
    """This process and the live compute processes (where predicts may run)."""
    pool = installed_processes()
    return {os.getpid(), *(pool.pids() if pool is not None else ())}
