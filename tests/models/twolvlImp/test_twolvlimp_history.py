"""history=true on POST /twolvlImp/predict, and the temporal estimate with its calibrated intervals."""

import numpy as np
import pandas as pd
from scipy.interpolate import Akima1DInterpolator, PchipInterpolator

from helpers.indicators import year_of
from models.twolvlImp.history import MIN_INNER, blend, calibrate, choose_curve, fit_blend, temporal

P = "/twolvlImp"
TARGET, YEAR = "wdi-EG.ELC.ACCS.ZS", "2001"


def request(**overrides) -> dict:
    base = {
        "target_year": YEAR,
        "dataset": "wdi",
        "target": TARGET,
        "interpolator": "KNNImputer",
        "scheme": "MANUAL",
        "manual_predictors": ["wdi-AG.LND.AGRI.ZS"],
        "estimators": 5,
        "model": "rfr",
        "interval": "quantile",
    }
    return base | overrides


def random_walks(countries: int, years: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.5, 5.0, size=(countries, 1))
    values = 50 + np.cumsum(rng.normal(size=(countries, years)) * scale, axis=1)
    values[rng.random(values.shape) < 0.2] = np.nan
    return pd.DataFrame(
        values, index=[f"C{i:03d}" for i in range(countries)], columns=[str(2000 + y) for y in range(years)]
    )


def test_history_is_the_default_and_false_gives_the_cross_section(client):
    default = client.post(f"{P}/predict", json=request())
    explicit = client.post(f"{P}/predict", json=request(history=True))
    plain = client.post(f"{P}/predict", json=request(history=False))
    assert default.status_code == explicit.status_code == plain.status_code == 200
    assert default.content == explicit.content
    assert "temporalWeights" in default.json()["indicatorJson"]
    assert "temporalWeights" not in plain.json()["indicatorJson"]


def test_history_uses_the_own_series_and_falls_back_to_the_cross_section(client, dataset):
    plain = year_of(client.post(f"{P}/predict", json=request(history=False)).json(), YEAR)
    with_history = year_of(client.post(f"{P}/predict", json=request(history=True)).json(), YEAR)
    weights = with_history["temporalWeights"]
    assert set(weights) == set(plain["lowerIntervals"])
    series = dataset.indicator_table(TARGET)
    for country, weight in weights.items():
        has_history = country in series.index and series.loc[country].drop(YEAR).notna().any()
        assert (weight > 0) == bool(has_history)
        if not has_history:
            assert with_history["data"][country] == plain["data"][country]
            assert with_history["upperIntervals"][country] == plain["upperIntervals"][country]
        assert (
            with_history["lowerIntervals"][country]
            <= with_history["data"][country]
            <= with_history["upperIntervals"][country]
        )
    method = with_history["historyMethod"]
    assert method["used"] and method["curve"] in ("linear", "pchip", "akima")
    assert method["trainingCountries"] > 100 and 0.0 <= method["shockShare"] <= 1.0
    if not method["crossSection"]:
        assert all(w == 1.0 for w in weights.values() if w > 0)
    observed = {c: v for c, v in plain["data"].items() if c not in weights}
    assert all(with_history["data"][c] == v for c, v in observed.items())
    assert with_history["featureImportances"] == plain["featureImportances"]


def test_temporal_estimate_interpolates_linearly_and_flat_beyond_the_ends():
    table = pd.DataFrame(
        {"2000": [10.0, np.nan], "2001": [np.nan, np.nan], "2002": [np.nan, 4.0], "2003": [16.0, 6.0]},
        index=["A", "B"],
    )
    found = temporal(table, "2001", ["A", "B", "Z"])
    assert found.estimate["A"] == 12.0 and found.estimate["B"] == 4.0 and np.isnan(found.estimate["Z"])
    # bridge gap of A is 1·2/3; B is 1 year beyond its first observation
    assert np.isclose(found.half_width["A"] ** 2 / found.half_width["B"] ** 2, (36 / 3) * (2 / 3) / (4 * 1.0))


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


def smooth_paths(countries: int, years: int, seed: int, noise: float) -> pd.DataFrame:
    """Curved trajectories (a decline that flattens, as mortality) with measurement noise."""
    rng = np.random.default_rng(seed)
    x = np.arange(years, dtype=float)
    level, speed = rng.uniform(20, 80, (countries, 1)), rng.uniform(0.05, 0.2, (countries, 1))
    values = level * np.exp(-speed * x) + rng.normal(scale=noise, size=(countries, years))
    return pd.DataFrame(
        values, index=[f"C{i:03d}" for i in range(countries)], columns=[str(2000 + y) for y in range(years)]
    )


def test_smooth_curves_through_a_window_equal_the_whole_series_curve():
    rng = np.random.default_rng(11)
    years = np.sort(rng.choice(np.arange(1990, 2030), size=20, replace=False)).astype(float)
    values = np.cumsum(rng.normal(size=20))
    gaps = [y for y in range(int(years[5]), int(years[14])) if y not in years]
    table = pd.DataFrame(
        [np.append(values, np.full(len(gaps), np.nan))],
        index=["A"],
        columns=[str(int(y)) for y in years] + [str(y) for y in gaps],
    )
    assert len(gaps) >= 3
    for target in gaps:
        for curve, whole in (("pchip", PchipInterpolator), ("akima", Akima1DInterpolator)):
            found = temporal(table, str(target), ["A"], curve)
            assert np.isclose(found.estimate["A"], whole(years, values)(target), rtol=0, atol=1e-12)


def test_a_smooth_curve_is_chosen_for_smooth_series_and_linear_for_random_walks():
    smooth = smooth_paths(40, 25, seed=12, noise=0.01)
    assert choose_curve(smooth, "2012", list(smooth.index)) in ("pchip", "akima")
    walks = random_walks(40, 25, seed=13)
    assert choose_curve(walks, "2012", list(walks.index)) == "linear"
    few = smooth.iloc[: MIN_INNER - 1]
    assert choose_curve(few, "2012", list(few.index)) == "linear"


def test_the_curve_choice_ignores_the_target_year_and_other_countries():
    """Which SIDS are hidden in the year, and every non-SIDS row, cannot change the choice."""
    smooth = smooth_paths(40, 25, seed=14, noise=0.01)
    sids = list(smooth.index[:30])
    chosen = choose_curve(smooth, "2012", sids)
    hidden = smooth.assign(**{"2012": smooth["2012"].mask(smooth.index.isin(sids[:10]))})
    noisy_others = hidden.copy()
    noisy_others.iloc[30:] = np.random.default_rng(15).normal(size=(10, 25)) * 100
    assert choose_curve(hidden, "2012", sids) == choose_curve(noisy_others, "2012", sids) == chosen


def pseudo_missing(countries: int, cross_sd: float, seed: int, shock: float = 0.0) -> dict:
    """Training countries as `fit_blend` sees them: temporal errors that grow with each country's
    variance (shifted by `shock` of its own sd, as a year that hit every country), cross-sectional
    errors of a fixed spread `cross_sd`; a third of them SIDS."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(50, 10, countries)
    v_t = rng.uniform(0.2, 5.0, countries) ** 2
    t = truth + (rng.normal(size=countries) - shock) * np.sqrt(v_t)
    return {
        "truth": truth,
        "t": t,
        "v_t": v_t,
        "cross": truth + rng.normal(size=countries) * cross_sd,
        "mse": 4.0,
        "is_sids": np.arange(countries) % 3 == 0,
    }


def mae(points, truth) -> float:
    return float(np.mean(np.abs(np.asarray(points) - truth)))


def test_a_sharp_cross_section_passes_the_gate_and_a_vague_one_keeps_the_own_series():
    sharp = fit_blend(**pseudo_missing(300, cross_sd=0.5, seed=3))
    assert sharp.cross_variance is not None and sharp.gain + 2 * sharp.gain_se < 0
    weight, *_ = sharp.point(10.0, 4.0, 0.0)
    assert weight < 0.3
    vague = fit_blend(**pseudo_missing(300, cross_sd=20.0, seed=3))
    assert vague.cross_variance is None and vague.share == 0.0
    weight, point, sd = vague.point(10.0, 4.0, 0.0)
    assert (weight, point, sd) == (1.0, 10.0, 2.0)


def test_a_shared_shock_is_learned_and_applied_to_new_countries():
    fitted = fit_blend(**pseudo_missing(300, cross_sd=20.0, seed=7, shock=1.5))
    assert fitted.cross_variance is not None and fitted.share > 0
    assert 1.2 < fitted.shock < 1.8
    fresh = pseudo_missing(2000, cross_sd=20.0, seed=8, shock=1.5)
    _, point, _ = fitted.point(fresh["t"], fresh["v_t"], fresh["cross"])
    assert mae(point, fresh["truth"]) < 0.8 * mae(fresh["t"], fresh["truth"])


def test_the_shock_and_the_gate_follow_the_sids():
    """A shock only the other countries had says nothing about the SIDS being imputed."""
    others_only = pseudo_missing(300, cross_sd=20.0, seed=9)
    others = ~others_only["is_sids"]
    others_only["t"][others] -= 1.5 * np.sqrt(others_only["v_t"][others])
    fitted = fit_blend(**others_only)
    assert abs(fitted.shock) < 0.3 and fitted.cross_variance is None


def test_blend_intervals_are_conformal_on_the_sids_training_countries():
    fitted = fit_blend(**pseudo_missing(600, cross_sd=3.0, seed=4))
    assert fitted.samples == 600 and fitted.calibration == 200 and fitted.cross_variance is not None
    fresh = pseudo_missing(4000, cross_sd=3.0, seed=5)
    _, point, sd = fitted.point(fresh["t"], fresh["v_t"], fresh["cross"])
    assert 0.86 <= np.mean(np.abs(point - fresh["truth"]) <= fitted.q * sd) <= 0.95


def history_backtest(client, target: str, year: str) -> dict:
    response = client.post(
        f"{P}/backtest", json=request(target=target, target_year=year, history=True, folds=2)
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_history_is_interpolation_for_smooth_series_and_departs_from_it_in_shock_years(client):
    """Life expectancy moves smoothly: the training countries give no out-of-sample evidence that
    anything beats interpolation, so the model is interpolation. 2008 inflation spiked everywhere at
    once, which interpolation between 2007 and 2009 cannot see and the training countries show:
    there the model shifts by the year's shock and blends in the cross-section."""
    smooth = history_backtest(client, "wdi-SP.DYN.LE00.IN", "2008")
    assert all(row["temporal_weight"] == 1.0 for row in smooth["countries"])
    assert smooth["scores"]["model"]["mae"] <= smooth["scores"]["own_series_linear"]["mae"]
    shock = history_backtest(client, "wdi-FP.CPI.TOTL.ZG", "2008")
    assert any(row["temporal_weight"] < 1.0 for row in shock["countries"])
    scores = shock["scores"]
    assert scores["model"]["mae"] < 0.85 * scores["own_series_linear"]["mae"]
    assert 0.75 <= scores["model"]["coverage"] <= 1.0


def test_history_follows_the_curve_of_a_smooth_series(client):
    """Urbanisation bends slowly: a smooth curve through the SIDS' own years beats the straight line
    (−62 % MAE on the development pair with 5 folds)."""
    scores = history_backtest(client, "wdi-SP.URB.TOTL.IN.ZS", "2012")["scores"]
    assert scores["model"]["mae"] < 0.6 * scores["own_series_linear"]["mae"]
    assert 0.8 <= scores["model"]["coverage"] <= 1.0
    body = request(target="wdi-SP.URB.TOTL.IN.ZS", target_year="2012", history=True)
    method = client.post(f"{P}/predict", json=body).json()["indicatorJson"]["historyMethod"]["2012"]
    assert method["used"] and method["curve"] in ("pchip", "akima")


def cross_result(table: pd.DataFrame, year: str, imputed: list[str], training: list[str]) -> dict:
    """A stand-in for imputation.run: every estimate 50 ± 10, out-of-fold predictions of 50."""
    observed = {c: float(table.at[c, year]) for c in training}
    return {
        "data": observed | dict.fromkeys(imputed, 50.0),
        "lowerIntervals": dict.fromkeys(imputed, 40.0),
        "upperIntervals": dict.fromkeys(imputed, 60.0),
        "sids_rmse": 5.0,
        "oof": dict.fromkeys(training, 50.0),
    }


def test_blend_keeps_the_cross_section_when_too_few_training_countries_have_history():
    table = random_walks(40, 12, seed=6).ffill(axis=1).bfill(axis=1)
    year, imputed = "2006", ["C000", "C001"]
    hidden = table.assign(**{year: table[year].mask(table.index.isin(imputed))})
    few = cross_result(hidden, year, imputed, [f"C{i:03d}" for i in range(2, 2 + MIN_INNER - 1)])
    kept = blend(few, hidden, year)
    assert kept == few | {
        "temporalWeights": {"C000": 0.0, "C001": 0.0},
        "historyMethod": kept["historyMethod"],
    }
    assert (
        kept["historyMethod"]["used"] is False and kept["historyMethod"]["trainingCountries"] == MIN_INNER - 1
    )
    enough = cross_result(hidden, year, imputed, [f"C{i:03d}" for i in range(2, 40)])
    blended = blend(enough, hidden, year)
    assert all(blended["temporalWeights"][c] > 0.5 for c in imputed)
    for c in imputed:
        assert blended["lowerIntervals"][c] < blended["data"][c] < blended["upperIntervals"][c]
