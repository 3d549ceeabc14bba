"""POST /twolvlImp/estimate: the cost formula per stage, rates learned from measured runs, the
host's machine unit (figures vs real durations are bench/estimate_bench.py's job, not a test's)."""

import pytest

from models.twolvlImp.estimate import (
    HISTORY_CURVE_UNITS,
    HISTORY_UNITS,
    CostFeatures,
    RunHistory,
    StageClock,
    stage_units,
)

SIMPLE = CostFeatures(
    scheme="MANUAL",
    model="rfr",
    interpolator="KNNImputer",
    estimators=10,
    candidates=378,
    selected=1,
    training_rows=210,
    cached=True,
)


def test_each_stage_learns_its_own_rate_and_model_families_stay_apart():
    history = RunHistory()
    afs = CostFeatures(
        scheme="AFS",
        model="gbr",
        interpolator="KNNImputer",
        estimators=50,
        candidates=378,
        selected=10,
        training_rows=210,
        cached=False,
    )
    units = stage_units(afs)
    # measured: prepare at 2 s/unit, selection at 10 s/unit, gbr trees at 4 s/unit, 0.5 s outside the stages
    stages = {"prepare": 2 * units["prepare"], "select": 10 * units["select"], "train": 4 * units["train"]}
    history.record(afs, sum(stages.values()) + 0.5, stages)
    assert history.estimate(afs).seconds == pytest.approx(sum(stages.values()) + 0.5, rel=1e-3)
    rfr = stage_units(SIMPLE)
    history.record(SIMPLE, 1.0 * rfr["train"] + 0.5, {"train": 1.0 * rfr["train"]})
    again = history.estimate(afs)
    assert again.method == "formula-scaled" and again.runs == 2
    assert again.seconds == pytest.approx(sum(stages.values()) + 0.5, rel=1e-3), "gbr keeps its own rate"
    etr = CostFeatures(**{**SIMPLE.__dict__, "model": "etr"})
    assert history.estimate(etr).seconds == pytest.approx(stage_units(etr)["train"] * 2.5 + 0.5, rel=1e-3), (
        "an unseen family takes the median rate"
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
    assert set(clock.durations) == {"prepare", "select", "train", "history"}
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
