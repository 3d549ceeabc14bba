"""history=true on POST /twolvlImp/predict, and the temporal estimate with its calibrated intervals."""

import numpy as np
import pandas as pd

from models.twolvlImp.history import calibrate, temporal

P = "/twolvlImp"
TARGET, YEAR = "wdi-EG.ELC.ACCS.ZS", "2001"


def request(**overrides) -> dict:
    base = {"target_year": YEAR, "dataset": "wdi", "target": TARGET, "interpolator": "KNNImputer",
            "scheme": "MANUAL", "manual_predictors": ["wdi-AG.LND.AGRI.ZS"], "estimators": 5,
            "model": "rfr", "interval": "quantile"}
    return base | overrides


def random_walks(countries: int, years: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.5, 5.0, size=(countries, 1))
    values = 50 + np.cumsum(rng.normal(size=(countries, years)) * scale, axis=1)
    values[rng.random(values.shape) < 0.2] = np.nan
    return pd.DataFrame(values, index=[f"C{i:03d}" for i in range(countries)],
                        columns=[str(2000 + y) for y in range(years)])


def test_history_false_is_the_default_and_changes_nothing(client):
    default = client.post(f"{P}/predict", json=request())
    explicit = client.post(f"{P}/predict", json=request(history=False))
    assert default.status_code == explicit.status_code == 200
    assert default.content == explicit.content
    assert "temporalWeights" not in default.json()["indicatorJson"][YEAR]


def test_history_uses_the_own_series_and_falls_back_to_the_cross_section(client, dataset):
    plain = client.post(f"{P}/predict", json=request()).json()["indicatorJson"][YEAR]
    with_history = client.post(f"{P}/predict", json=request(history=True)).json()["indicatorJson"][YEAR]
    weights = with_history["temporalWeights"]
    assert set(weights) == set(plain["lowerIntervals"])
    series = dataset.indicator_table(TARGET)
    for country, weight in weights.items():
        has_history = country in series.index and series.loc[country].drop(YEAR).notna().any()
        assert (weight > 0) == bool(has_history)
        if not has_history:
            assert with_history["data"][country] == plain["data"][country]
            assert with_history["upperIntervals"][country] == plain["upperIntervals"][country]
        assert with_history["lowerIntervals"][country] <= with_history["data"][country] <= with_history["upperIntervals"][country]
    observed = {c: v for c, v in plain["data"].items() if c not in weights}
    assert all(with_history["data"][c] == v for c, v in observed.items())
    assert with_history["featureImportances"] == plain["featureImportances"]


def test_temporal_estimate_interpolates_linearly_and_flat_beyond_the_ends():
    table = pd.DataFrame({"2000": [10.0, np.nan], "2001": [np.nan, np.nan], "2002": [np.nan, 4.0],
                          "2003": [16.0, 6.0]}, index=["A", "B"])
    found = temporal(table, "2001", ["A", "B", "Z"])
    assert found.estimate["A"] == 12.0 and found.estimate["B"] == 4.0 and np.isnan(found.estimate["Z"])
    # bridge gap of A is 1·2/3; B is 1 year beyond its first observation
    assert np.isclose(found.half_width["A"] ** 2 / found.half_width["B"] ** 2,
                      (36 / 3) * (2 / 3) / (4 * 1.0))


def test_intervals_are_calibrated_on_hidden_points_of_random_walks():
    table = random_walks(300, 25, seed=1)
    q, samples = calibrate(table)
    assert samples > 3000 and q > 0
    truths = random_walks(300, 25, seed=2)
    year = "2012"
    hidden = [c for c in truths.index if np.isfinite(truths.at[c, year])]
    found = temporal(truths.assign(**{year: np.nan}), year, hidden)
    inside = (found.estimate - truths.loc[hidden, year]).abs() <= found.half_width
    assert 0.85 <= inside.mean() <= 0.96
