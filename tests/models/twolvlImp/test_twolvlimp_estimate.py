"""POST /twolvlImp/estimate: the cost formula per stage, rates learned from measured runs, the
host's machine unit (figures vs real durations are bench/estimate_bench.py's job, not a test's)."""

import os

import numpy as np
import pytest

from common.machine_speed import HOST
from helpers.estimates import SIMPLE
from models.twolvlImp import service
from models.twolvlImp.estimate import (
    CONTENTION_MIN_CPU_SECONDS,
    CONTENTION_RANGE,
    DISPATCH_UNITS,
    DRIFT_WEIGHT,
    FRESH_PROCESS_UNITS,
    HISTORY_CURVE_UNITS,
    HISTORY_UNITS,
    REQUEST_CACHED_UNITS,
    REQUEST_UNITS,
    THREAD_SPEEDUP,
    TRAIN_COSTS,
    CostFeatures,
    Run,
    RunHistory,
    StageClock,
    forest_on_threads,
    stage_units,
    train_units,
    two_thread_share,
    unit_seconds,
)
from models.twolvlImp.schemas import SIMPLE_EXAMPLE


@pytest.fixture(autouse=True)
def no_measured_machine_unit(monkeypatch):
    """Each test starts as if this host's unit were not measured yet (`MACHINE_SECONDS`), whatever an
    earlier test's app measured in the background: estimates are rounded to milliseconds, so the
    exact expectations below hold for one unit, not for any."""
    monkeypatch.setattr(HOST, "unit_seconds", None)


def test_every_stage_takes_the_latest_runs_rate_and_a_kind_no_run_has_had_keeps_its_formula(monkeypatch):
    """The CPU seconds per unit of the latest runs, all stages together, price every stage: on a
    shared machine they move together whatever the kind."""
    monkeypatch.setattr(HOST, "unit_seconds", 2.0)
    afs = CostFeatures(
        **{
            **SIMPLE.__dict__,
            "scheme": "AFS",
            "model": "gbr",
            "estimators": 50,
            "selected": 10,
            "cached": False,
        }
    )
    units = stage_units(afs)
    # every stage at 3 CPU seconds per unit, a core to itself; 0.5 s outside the stages
    stages = {stage: 3 * units[stage] for stage in ("prepare", "select", "train")}
    history = RunHistory()
    history.record(afs, sum(stages.values()) + 0.5, stages, False, 11, stages)
    dispatch = DISPATCH_UNITS * 2.0
    assert history.estimate(afs).seconds == pytest.approx(sum(stages.values()) + 0.5 + dispatch, abs=1e-3)
    etr = CostFeatures(**{**SIMPLE.__dict__, "model": "etr", "cached": False})
    expected = 3 * (stage_units(etr)["prepare"] + stage_units(etr)["train"]) + 0.5 + dispatch
    assert history.estimate(etr).seconds == pytest.approx(expected, abs=1e-3), (
        "an unseen family: the same rate"
    )


def test_the_first_history_blend_of_a_target_and_year_costs_more():
    warm = CostFeatures(**{**SIMPLE.__dict__, "history": True})
    cold = CostFeatures(**{**warm.__dict__, "history_cold": True})
    assert stage_units(warm)["history"] == HISTORY_UNITS
    assert stage_units(cold)["history"] == HISTORY_UNITS + HISTORY_CURVE_UNITS
    assert stage_units(SIMPLE)["history"] == 0.0


def test_stage_clock_times_the_stages_it_is_told_about():
    seen = []
    clock = StageClock(lambda stage, fraction: seen.append(stage))
    for stage in (
        "validating",
        "imputing predictors",
        "selecting predictors",
        "training",
        "assembling",
        "blending history",
        "done",
    ):
        clock(stage, 0.0)
    assert seen[-1] == "done"
    assert set(clock.durations) == set(clock.cpu_seconds) == {"prepare", "select", "train", "history"}
    assert all(seconds >= 0 for seconds in clock.durations.values())


def test_estimate_reports_its_basis_and_learns_from_predict(client):
    body = {
        "target_year": "2003",
        "dataset": "wdi",
        "target": "wdi-EG.ELC.ACCS.ZS",
        "interpolator": "SimpleImputer",
        "scheme": "MANUAL",
        "manual_predictors": ["wdi-AG.LND.AGRI.ZS"],
        "estimators": 7,
        "model": "rfr",
        "interval": "quantile",
    }
    before = client.post("/twolvlImp/estimate", json=body).json()
    assert before["seconds"] > 0 and before["method"] in {"formula", "formula-scaled"}
    assert client.post("/twolvlImp/predict", json=body).status_code == 200
    after = client.post("/twolvlImp/estimate", json=body).json()
    assert after["method"] == "formula-scaled" and after["runs"] > before["runs"]


def test_afs_selection_cost_follows_the_columns_its_rounds_rank():
    afs = {**SIMPLE.__dict__, "scheme": "AFS", "cached": False}
    costs = [stage_units(CostFeatures(**{**afs, "selected": n}))["select"] for n in (3, 10, 40)]
    assert 0 < costs[0] < costs[1] < costs[2]
    assert stage_units(CostFeatures(**{**afs, "candidates": 760, "selected": 10}))["select"] > costs[1]
    manual = stage_units(
        CostFeatures(**{**SIMPLE.__dict__, "interpolator": "IterativeImputer", "cached": False})
    )
    full = stage_units(CostFeatures(**{**afs, "interpolator": "IterativeImputer"}))
    assert manual["select"] == 0 and 0 < manual["prepare"] < full["prepare"]


def test_the_api_process_knows_which_matrices_its_compute_processes_hold(client, dataset):
    """Predictions run in compute processes; their caches are reported back, so an estimate made in
    the API process counts a request whose matrices a live process holds as warm."""
    body = {
        "target_year": "2002",
        "dataset": "wdi",
        "target": "wdi-EG.ELC.ACCS.ZS",
        "interpolator": "SimpleImputer",
        "scheme": "MANUAL",
        "manual_predictors": ["wdi-AG.LND.AGRI.ZS"],
        "estimators": 6,
        "model": "rfr",
        "interval": "quantile",
        "history": True,
    }
    key = (dataset.fingerprint, "2002", body["target"], "SimpleImputer")
    assert not service.CACHED_ELSEWHERE.holds("prepared", key)
    assert client.post("/twolvlImp/predict", json=body).status_code == 200
    assert key not in service.PREPARED  # computed in a compute process, not here
    assert service.CACHED_ELSEWHERE.holds("prepared", key)
    assert service.CACHED_ELSEWHERE.holds("blended", (dataset.fingerprint, body["target"], "2002"))
    features = []
    original = service.cost_features

    def recording(*args):
        features.append(args)
        return original(*args)

    try:
        service.cost_features = recording
        assert client.post("/twolvlImp/estimate", json={**body, "estimators": 9}).status_code == 200
    finally:
        service.cost_features = original
    (_, _, _, cached, history_cold), *_ = features
    assert cached and not history_cold


def test_caches_of_processes_that_are_gone_are_forgotten():
    caches = service.ProcessCaches(2)
    caches.note(os.getpid(), "prepared", ("a",))
    caches.note(2**22 + 12345, "prepared", ("b",))  # no such compute process
    assert caches.holds("prepared", ("a",)) and not caches.holds("prepared", ("b",))
    for key in ("c", "d"):
        caches.note(os.getpid(), "prepared", (key,))
    assert not caches.holds("prepared", ("a",))  # evicted like the process's own LRU


def _warm_and_fresh_runs():
    """A process's first run (train at 5 s/unit, 0.3 s outside the stages) and a later one (2 s/unit, 0.01 s)."""
    train = stage_units(SIMPLE)["train"]
    return (
        (SIMPLE, 5 * train + 0.3, {"train": 5 * train}, True, 11),
        (SIMPLE, 2 * train + 0.01, {"train": 2 * train}, False, 11),
    )


def test_a_process_first_run_teaches_the_rate_but_not_its_time_outside_the_stages(monkeypatch):
    monkeypatch.setattr(HOST, "unit_seconds", 2.0)
    fresh, warm = _warm_and_fresh_runs()
    train = stage_units(SIMPLE)["train"]
    history = RunHistory()
    history.record(*fresh)
    alone = history.estimate(SIMPLE).seconds
    assert alone == pytest.approx(5 * train + (REQUEST_CACHED_UNITS + DISPATCH_UNITS) * 2.0, abs=1e-3), (
        "its stage rate is all there is, its time outside the stages is not the request's"
    )
    history.record(*warm)
    # the rate now: the weighted mean of 5 and 2 (log terms); rfr's correction: the later run's ratio
    # to the rate known before it (5), with one run's weight on 1
    now = np.exp((1 - DRIFT_WEIGHT) * np.log(5) + DRIFT_WEIGHT * np.log(2))
    correction = np.exp(np.log(2 / 5) / 2)
    expected = now * correction * train + 0.01 + DISPATCH_UNITS * 2.0
    assert history.estimate(SIMPLE).seconds == pytest.approx(expected, abs=1e-3)
    assert 1.5 * train < now * correction * train < 2.5 * train, "mostly the later run's rate"


def test_a_request_that_starts_a_process_pays_the_measured_one_time_cost(monkeypatch):
    monkeypatch.setattr(HOST, "unit_seconds", 2.0)
    fresh, warm = _warm_and_fresh_runs()
    formula = sum(stage_units(SIMPLE).values())
    empty = RunHistory()
    assert empty.estimate(SIMPLE, fresh_process=True).seconds - empty.estimate(SIMPLE).seconds == (
        pytest.approx(FRESH_PROCESS_UNITS * 2.0, abs=1e-3)
    )
    assert empty.estimate(SIMPLE).seconds == pytest.approx(
        (formula + REQUEST_CACHED_UNITS + DISPATCH_UNITS) * 2.0, abs=1e-3
    )
    uncached = CostFeatures(
        **{**SIMPLE.__dict__, "cached": False}
    )  # its prepare stage counts too, and its catalogue
    assert empty.estimate(uncached).seconds == pytest.approx(
        (sum(stage_units(uncached).values()) + REQUEST_UNITS + DISPATCH_UNITS) * 2.0, abs=1e-3
    )
    history = RunHistory()
    history.record(*fresh)
    history.record(*warm)
    extra = history.estimate(SIMPLE, fresh_process=True).seconds - history.estimate(SIMPLE).seconds
    assert extra == pytest.approx(0.3 - 0.01, abs=1e-3), "the first run's outside time beyond a later run's"
    assert history.ran_in({11, 12}) and not history.ran_in({12})


def test_train_cost_is_per_tree_and_grows_less_than_the_predictors():
    def train(model, trees, predictors):
        return train_units(
            CostFeatures(**{**SIMPLE.__dict__, "model": model, "estimators": trees, "selected": predictors})
        )

    assert train("rfr", 150, 1) / train("rfr", 50, 1) == pytest.approx(3, rel=0.05)
    for family in ("rfr", "etr", "gbr"):
        assert 1 < train(family, 50, 10) / train(family, 50, 1) < 10, "per tree, less than per predictor"
    assert train("gbr", 10, 1) > train("rfr", 10, 1), "boosting's 23 fits cost more than a small forest"
    families = sum(train(m, 50, 5) for m in ("rfr", "etr", "gbr"))
    assert train("gbr", 50, 5) < train("all", 50, 5) < families, "`all` fits the CV models of the three"


def test_a_two_thread_forest_costs_its_work_and_takes_the_two_thread_wall_factor(monkeypatch):
    monkeypatch.setattr(HOST, "unit_seconds", 2.0)
    # long enough (in CPU time) to tell their wall over CPU time: CONTENTION_MIN_CPU_SECONDS
    one_thread = CostFeatures(**{**SIMPLE.__dict__, "estimators": 250})
    two_threads = CostFeatures(**{**SIMPLE.__dict__, "estimators": 300, "selected": 10})
    assert not forest_on_threads(one_thread) and forest_on_threads(two_threads)
    rfr = TRAIN_COSTS["rfr"]
    work = rfr.fixed + 300 * rfr.per_tree * (1 + rfr.per_predictor * 9) * 210 / 200
    assert train_units(two_threads) == pytest.approx(work), "CPU work: no divisor for the threads"
    empty = RunHistory()
    formula = (train_units(two_threads) / THREAD_SPEEDUP + REQUEST_CACHED_UNITS + DISPATCH_UNITS) * 2.0
    assert empty.estimate(two_threads).seconds == pytest.approx(formula, abs=1e-3)
    history = RunHistory()
    # both at 2 CPU seconds per unit: one thread 1.5× longer on the clock, two threads 0.75×
    for features, wall_over_cpu in ((one_thread, 1.5), (two_threads, 0.75)):
        cpu = 2.0 * stage_units(features)["train"]
        history.record(
            features, cpu * wall_over_cpu, {"train": cpu * wall_over_cpu}, False, 11, {"train": cpu}
        )
    dispatch = DISPATCH_UNITS * 2.0
    for features, wall_over_cpu in ((one_thread, 1.5), (two_threads, 0.75)):
        assert history.estimate(features).seconds - dispatch == pytest.approx(
            2.0 * wall_over_cpu * stage_units(features)["train"], abs=1e-3
        )


def test_each_process_first_predict_is_marked_fresh(client):
    # Single-threaded stages of a few hundred ms of CPU (a year's first imputation and history blend,
    # a one-thread forest), so that the runs' CPU time tells their contention on a fast machine too.
    body = {**SIMPLE_EXAMPLE, "history": True, "estimators": 200}
    for year in ("2004", "2006"):
        assert client.post("/twolvlImp/predict", json={**body, "target_year": year}).status_code == 200
    runs = list(service.RUN_TIMES._runs)
    assert runs[-1].pid is not None and service.RUN_TIMES.ran_in({runs[-1].pid})
    assert not runs[-1].fresh, "the second predict in a row runs in a process that has run one"
    assert runs[-1].cpu_seconds is not None
    last = runs[-1]
    one_thread = [
        s for s in last.stages if last.units.get(s, 0) > 0 and two_thread_share(s, last.features) == 0
    ]
    cpu = sum(last.cpu_seconds[stage] for stage in one_thread)
    assert cpu >= CONTENTION_MIN_CPU_SECONDS, "a request too light to tell"
    assert runs[-1].contention is not None and runs[-1].contention >= CONTENTION_RANGE[0]
    seen: set[int | None] = set()
    for run in runs:
        assert not (run.fresh and run.pid in seen), "fresh only on the first run of its process"
        seen.add(run.pid)
    assert client.post("/twolvlImp/estimate", json={**body, "target_year": "2004"}).json()["method"] == (
        "formula-scaled"
    )


def test_a_stage_no_run_has_had_takes_the_latest_runs_rate_not_the_start_up_probe(monkeypatch):
    monkeypatch.setattr(HOST, "unit_seconds", 2.0)
    history = RunHistory()
    train = stage_units(SIMPLE)["train"]
    for rate in (3.5, 3.5, 3.5):
        history.record(SIMPLE, rate * train, {"train": rate * train}, False, 11)
    pca = CostFeatures(**{**SIMPLE.__dict__, "scheme": "PCA", "selected": 5})
    units = stage_units(pca)
    expected = (units["select"] + units["train"]) * 3.5 + DISPATCH_UNITS * 2.0
    assert history.estimate(pca).seconds == pytest.approx(expected, abs=1e-3)


FOREST = CostFeatures(**{**SIMPLE.__dict__, "estimators": 200})
"""Long enough that the estimate's rounding to milliseconds does not matter (one thread, see below)."""


def _record_at(history: RunHistory, features: CostFeatures, cpu_rate: float, contention: float) -> None:
    """A later-than-first run whose train stage cost `cpu_rate` CPU seconds per unit and took
    `contention` times as long on the clock."""
    cpu = cpu_rate * stage_units(features)["train"]
    history.record(features, cpu * contention, {"train": cpu * contention}, False, 11, {"train": cpu})


def _per_unit(history: RunHistory, features: CostFeatures) -> float:
    """Estimated seconds per train unit (the API process's part, `DISPATCH_UNITS`, left out)."""
    seconds = history.estimate(features).seconds - DISPATCH_UNITS * unit_seconds()
    return seconds / stage_units(features)["train"]


def _rounded(seconds_per_unit: float, features: CostFeatures):
    """`seconds_per_unit` as `_per_unit` reads it, give or take the estimate's rounding to milliseconds."""
    return pytest.approx(seconds_per_unit, rel=1e-3, abs=0.0005 / stage_units(features)["train"])


def test_after_runs_three_times_slower_the_estimate_follows_then_recovers():
    assert two_thread_share("train", FOREST) == 0
    history = RunHistory()
    _record_at(history, FOREST, 2.0, 1.0)
    assert history.slowness == 1.0 and _per_unit(history, FOREST) == pytest.approx(2.0, rel=1e-3)
    # the machine turns busy: the same work takes three times as long on the clock
    expected_log = 0.0
    for _ in range(3):
        _record_at(history, FOREST, 2.0, 3.0)
        expected_log = (1 - DRIFT_WEIGHT) * expected_log + DRIFT_WEIGHT * np.log(3.0)
        assert history.slowness == pytest.approx(np.exp(expected_log), rel=1e-6)
        assert _per_unit(history, FOREST) == pytest.approx(2.0 * np.exp(expected_log), rel=1e-3)
    assert _per_unit(history, FOREST) > 2.0 * 3.0 / 1.05, "within 5 % of the new speed after three runs"
    # and idle again
    for _ in range(3):
        _record_at(history, FOREST, 2.0, 1.0)
        expected_log *= 1 - DRIFT_WEIGHT
    assert _per_unit(history, FOREST) == pytest.approx(2.0 * np.exp(expected_log), rel=1e-3)
    assert _per_unit(history, FOREST) < 2.0 * 1.01


def test_boosting_mixes_one_and_two_thread_wall_factors_and_its_runs_tell_neither():
    """Boosting fits its 20 CV models on two threads and its last three on one: its estimate mixes the
    machine's slowness and the two-thread factor by those shares, and its runs' wall over CPU time,
    a mix too, is read as neither (counted as one thread, it was estimated 1.2–1.5× too long)."""
    gbr = CostFeatures(**{**FOREST.__dict__, "model": "gbr", "estimators": 50})
    assert two_thread_share("train", gbr) == pytest.approx(20 / 23)
    mixed = Run(gbr, 0.7, {"train": 0.7}, cpu_seconds={"train": 1.0})
    assert mixed.contention is None and mixed.two_thread_factor is None
    on_two_threads = CostFeatures(**{**SIMPLE.__dict__, "estimators": 300, "selected": 10})
    history = RunHistory()
    _record_at(history, FOREST, 2.0, 1.5)
    _record_at(history, on_two_threads, 2.0, 0.6)
    assert history.slowness == pytest.approx(1.5)
    expected = 2.0 * (3 / 23 * 1.5 + 20 / 23 * 0.6)
    assert _per_unit(history, gbr) == _rounded(expected, gbr)
    history.record(gbr, 0.7, {"train": 0.7}, False, 11, {"train": 1.0})
    assert history.slowness == pytest.approx(1.5), "a boosting run does not move the slowness"


def test_a_kind_that_costs_more_than_its_formula_says_learns_its_correction():
    """Runs of a kind that does 3× the work its formula says (CPU time), among runs of a kind that does
    what its formula says: the kind learns its correction, and does not pass for a slower machine."""
    etr = CostFeatures(**{**FOREST.__dict__, "model": "etr"})
    history = RunHistory()
    for _ in range(8):
        _record_at(history, FOREST, 2.0, 1.5)
        _record_at(history, etr, 6.0, 1.5)
    assert history.slowness == pytest.approx(1.5, rel=1e-6)
    assert _per_unit(history, FOREST) == pytest.approx(2.0 * 1.5, rel=0.05)
    assert _per_unit(history, etr) == pytest.approx(6.0 * 1.5, rel=0.05)


def test_a_cpu_rate_change_one_kind_shows_carries_to_the_others():
    """The CPU seconds per unit of every kind move together on a shared machine (a busy sibling core):
    a change the latest runs show reaches a kind that has not run since."""
    etr = CostFeatures(**{**FOREST.__dict__, "model": "etr"})
    history = RunHistory()
    _record_at(history, etr, 2.0, 1.0)
    _record_at(history, FOREST, 2.0, 1.0)
    assert _per_unit(history, etr) == _rounded(2.0, etr)
    for _ in range(3):
        _record_at(history, FOREST, 4.0, 1.0)
    assert 3.0 < _per_unit(history, etr) < 4.0
    assert _per_unit(history, FOREST) == pytest.approx(4.0, rel=0.02)


def test_a_rate_learned_while_the_machine_was_idle_follows_the_load_the_latest_runs_show():
    etr = CostFeatures(**{**FOREST.__dict__, "model": "etr"})
    history = RunHistory()
    _record_at(history, FOREST, 2.0, 1.0)
    assert _per_unit(history, etr) == _rounded(2.0, etr)
    for _ in range(4):
        _record_at(history, FOREST, 2.0, 2.5)
    assert history.slowness == pytest.approx(2.5 ** (1 - (1 - DRIFT_WEIGHT) ** 4), rel=1e-6)
    assert _per_unit(history, etr) == _rounded(2.0 * history.slowness, etr), (
        "no etr run has shown the load, its estimate follows it all the same"
    )


def test_contention_is_read_from_single_threaded_stages_when_they_are_long_enough():
    two_threads = CostFeatures(**{**SIMPLE.__dict__, "estimators": 300, "selected": 10, "history": True})
    assert two_thread_share("train", two_threads) == 1 and two_thread_share("history", two_threads) == 0
    assert two_thread_share("select", CostFeatures(**{**SIMPLE.__dict__, "scheme": "AFS"})) == 1
    both = {"train": 4.0, "history": 0.9}
    run = Run(two_threads, 5.0, both, cpu_seconds={"train": 6.0, "history": 0.3})
    assert run.contention == pytest.approx(3.0), "the forest's two threads are left out"
    assert run.two_thread_factor == pytest.approx(4.0 / 6.0), "they tell the two-thread factor"
    short = Run(two_threads, 5.0, both, cpu_seconds={"train": 6.0, "history": CONTENTION_MIN_CPU_SECONDS / 2})
    assert short.contention is None, "too short to tell"
    assert Run(two_threads, 5.0, both).contention is None, "CPU time not measured"
    stalled = Run(SIMPLE, 5.0, {"train": 5.0}, cpu_seconds={"train": 0.11})
    assert stalled.contention == CONTENTION_RANGE[1]


def test_a_process_first_run_does_not_set_the_slowness_once_later_runs_have():
    history = RunHistory()
    history.record(SIMPLE, 1.0, {"train": 1.0}, True, 12, {"train": 0.2})  # a new process's first run
    assert history.slowness == pytest.approx(5.0), "all there is"
    _record_at(history, FOREST, 2.0, 1.5)
    assert history.slowness == pytest.approx(1.5, rel=1e-6)
    history.record(SIMPLE, 1.0, {"train": 1.0}, True, 13, {"train": 0.2})
    assert history.slowness == pytest.approx(1.5, rel=1e-6)
