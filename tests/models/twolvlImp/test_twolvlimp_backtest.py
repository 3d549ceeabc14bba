"""POST /twolvlImp/backtest on the bundled data: folds, truths, baselines, scores, jobs and errors."""

import time

import numpy as np

from common.constants import SIDS_SET
from models.twolvlImp.backtest import assign_folds, own_series
from models.twolvlImp.schemas import SIMPLE_EXAMPLE

P = "/twolvlImp"
TARGET, YEAR = SIMPLE_EXAMPLE["target"], SIMPLE_EXAMPLE["target_year"]


def body(**overrides) -> dict:
    """A light request: MANUAL with one predictor, 5 trees, 3 folds."""
    return {**SIMPLE_EXAMPLE, "estimators": 5, "history": False, "folds": 3} | overrides


def reporting_sids(dataset, target=TARGET, year=YEAR) -> list[str]:
    column = dataset.year_table(year)[target]
    return sorted(c for c in column.index[column.notna()] if c in SIDS_SET)


def test_folds_partition_the_countries_deterministically():
    countries = [f"C{i:02d}" for i in range(17)]
    folds = assign_folds(list(reversed(countries)), 5)
    assert folds == assign_folds(countries, 5)
    assert sorted(c for fold in folds for c in fold) == countries
    assert sorted(len(fold) for fold in folds) == [3, 3, 3, 4, 4]


def test_own_series_is_linear_with_flat_ends(dataset):
    import pandas as pd

    series = pd.DataFrame(
        {"2000": [1.0, np.nan, 5.0], "2001": [np.nan, np.nan, np.nan], "2002": [3.0, 7.0, np.nan]},
        index=["A", "B", "C"],
    )
    assert own_series(series, "2001", ("A", "B", "C"), fallback=-1.0) == {"A": 2.0, "B": 7.0, "C": 5.0}
    assert own_series(series.drop(columns=["2000", "2002"]), "2001", ("A",), fallback=-1.0) == {"A": -1.0}


def test_backtest_hides_every_reporting_sids_once_and_scores_against_the_truth(client, dataset):
    response = client.post(f"{P}/backtest", json=body())
    assert response.status_code == 200, response.text
    result = response.json()
    truths = dataset.year_table(YEAR)[TARGET]
    rows = result["countries"]
    assert [row["country"] for row in rows] == reporting_sids(dataset)
    assert {row["fold"] for row in rows} == {1, 2, 3}
    for row in rows:
        assert row["truth"] == truths[row["country"]]
        assert row["lower"] <= row["prediction"] <= row["upper"]
        assert row["cross_sectional"] is None and row["temporal_weight"] is None
    errors = np.array([row["prediction"] - row["truth"] for row in rows])
    model = result["scores"]["model"]
    assert model["count"] == len(rows)
    assert np.isclose(model["mae"], np.abs(errors).mean()) and np.isclose(
        model["rmse"], np.sqrt((errors**2).mean())
    )
    inside = np.mean([row["lower"] <= row["truth"] <= row["upper"] for row in rows])
    assert np.isclose(model["coverage"], inside)
    assert set(result["scores"]) == {"model", "cross_country_mean", "own_series_linear"}
    assert result["scores"]["own_series_linear"]["coverage"] is None


def test_baselines_use_only_what_the_fold_leaves_visible(client, dataset):
    rows = client.post(f"{P}/backtest", json=body()).json()["countries"]
    column = dataset.year_table(YEAR)[TARGET]
    first = rows[0]
    hidden = [row["country"] for row in rows if row["fold"] == first["fold"]]
    assert np.isclose(first["cross_country_mean"], column.drop(hidden).dropna().mean())
    series = dataset.indicator_table(TARGET).loc[first["country"]].drop(YEAR).dropna()
    years = series.index.astype(int)
    assert np.isclose(first["own_series_linear"], np.interp(int(YEAR), years, series.to_numpy()))


def test_history_backtest_beats_the_cross_section_and_matches_interpolation(client):
    result = client.post(f"{P}/backtest", json=body(history=True)).json()
    scores = result["scores"]
    assert set(scores) == {"model", "cross_sectional", "cross_country_mean", "own_series_linear"}
    assert scores["model"]["mae"] * 5 < scores["cross_sectional"]["mae"]
    assert scores["model"]["mae"] <= 1.1 * min(
        scores["own_series_linear"]["mae"], scores["cross_country_mean"]["mae"]
    )
    assert 0.75 <= scores["model"]["coverage"] <= 1.0
    weights = [row["temporal_weight"] for row in result["countries"]]
    assert all(0.0 <= w <= 1.0 for w in weights) and max(weights) > 0.9


def test_backtest_runs_as_a_job_with_progress(client):
    accepted = client.post(f"{P}/backtest", json=body(folds=2), headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202
    location = accepted.headers["location"]
    deadline = time.monotonic() + 120
    while (job := client.get(location).json())["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert job["status"] == "succeeded" and job["result"]["folds"] == 2
    assert len(job["result"]["countries"]) == len(
        client.post(f"{P}/backtest", json=body(folds=2)).json()["countries"]
    )


def test_invalid_backtests_are_422_saying_what_is_valid(client):
    for folds in (1, 11):
        response = client.post(f"{P}/backtest", json=body(folds=folds))
        assert response.status_code == 422 and "folds" in response.text
    response = client.post(f"{P}/backtest", json=body(target="wdi-NOPE"))
    assert response.status_code == 422 and "/targets" in response.json()["detail"]
    response = client.post(f"{P}/backtest", json=body(scheme="AFS", manual_predictors=None))
    assert response.status_code == 422 and "number_predictor" in response.text
