"""POST /statimpute/backtest on the bundled data: folds over a series, baselines, intervals, errors."""

import numpy as np

from common.constants import SIDS_SET
from models.Statimpute.backtest import conformal_half_width, split_years

P = "/statimpute"
TARGET = "wdi-EG.ELC.ACCS.ZS"


def body(**overrides) -> dict:
    return {
        "target": TARGET,
        "country": "JAM",
        "method": "linear",
        "direction": "both",
        "folds": 5,
    } | overrides


def observed(dataset, country: str, target: str = TARGET):
    return dataset.indicator_table(target).loc[country].dropna()


def test_split_years_is_a_deterministic_partition():
    years = list(range(1990, 2012))
    folds = split_years(years[::-1], 4)
    assert folds == split_years(years, 4) and sorted(y for f in folds for y in f) == years


def test_linear_backtest_equals_its_linear_baseline(client, dataset):
    response = client.post(f"{P}/backtest", json=body())
    assert response.status_code == 200, response.text
    result = response.json()
    series = observed(dataset, "JAM")
    assert [row["year"] for row in result["years"]] == [int(y) for y in series.index]
    for row in result["years"]:
        assert row["truth"] == series[str(row["year"])]
        assert row["prediction"] == row["linear"] and row["lower"] <= row["prediction"] <= row["upper"]
    scores = result["scores"]
    assert scores["model"]["mae"] == scores["linear"]["mae"] < scores["series_mean"]["mae"]
    assert scores["model"]["count"] == len(series) and result["not_predicted"] == []
    assert 0.0 <= scores["model"]["coverage"] <= 1.0


def test_methods_that_leave_years_empty_are_not_scored(client):
    result = client.post(f"{P}/backtest", json=body(method="cubic")).json()
    scored = [row for row in result["years"] if row["prediction"] is not None]
    assert result["scores"]["model"]["count"] == len(scored)
    assert (
        sorted(row["year"] for row in result["years"] if row["prediction"] is None) == result["not_predicted"]
    )
    assert result["scores"]["linear"]["count"] == len(result["years"])


def test_conformal_half_width_grows_with_noise():
    import pandas as pd

    rng = np.random.default_rng(0)
    years = list(range(1990, 2020))
    smooth = pd.Series(np.linspace(0, 10, 30), index=years)
    noisy = smooth + rng.normal(scale=3, size=30)
    assert conformal_half_width(smooth, "linear", "both", None, 5) < 1e-9
    assert conformal_half_width(noisy, "linear", "both", None, 5) > 1


def test_invalid_backtests_are_422_saying_what_is_valid(client, dataset):
    counts = dataset.values.notna().sum(axis=1)
    country, target = next(key for key, n in counts.items() if 2 <= n <= 6 and key[0] in SIDS_SET)
    response = client.post(f"{P}/backtest", json=body(target=target, country=country, folds=10))
    assert response.status_code == 422 and "fewer folds" in response.json()["detail"]
    assert client.post(f"{P}/backtest", json=body(folds=12)).status_code == 422
    response = client.post(f"{P}/backtest", json=body(method="spline"))
    assert response.status_code == 422 and "d" in response.text
    response = client.post(f"{P}/backtest", json=body(country="XXX"))
    assert response.status_code == 422 and "valid" in response.json()["detail"]
