"""History-aware imputation: each country's own series, the year's shock and the cross-section.

Temporal estimate of country c in year Y: a curve through c's observed values of the target in
the other years, flat beyond the first/last observation. The curve is linear interpolation
(`np.interp`) unless a smooth one (PCHIP or Akima, scipy) does better on the SIDS' own data: every
SIDS observation within `CURVE_EVIDENCE_YEARS` of Y (Y itself left out) between two others is
hidden in turn and re-estimated by each curve; the smooth curve with the lowest mean of each
country's |error| minus linear's is used if that mean is below zero by more than `GATE_Z`
standard errors over countries (`choose_curve`). Slowly bending series (urbanisation, population,
fertility, child mortality) get one; volatile ones keep the straight line.

Its error model (whatever the curve) treats the series as a random walk with the country's own volatility
σ² = mean over consecutive observations of (Δvalue)² / Δyears. A random walk observed at
distances dl (before) and dr (after) has an interpolation error variance σ²·dl·dr/(dl + dr)
(Brownian bridge), and σ²·d at distance d beyond the last observation. A flat series gets the
lower decile of the indicator's volatilities; a country with a single other year, the median. The
temporal variance is v_t = (q·σ·√gap / 1.645)², where q is the 90th percentile of
|error| / (σ·√gap) over every observed point of the indicator (all countries, all years) hidden one
at a time and re-interpolated from its neighbours, σ recomputed without it.

Year shock. Interpolation misses what hit every country in the year (2008 inflation, a rebound
after a recession). The SIDS training countries' temporal errors in standard units,
z = (truth − t) / √v_t, are averaged into the year's shock z̄ (the imputed countries are SIDS, and
a shock of the others, as 2015's fall of GDP in current dollars, need not be theirs); a country's
shifted temporal estimate is t + β·z̄·√v_t. With fewer than `MIN_SIDS_CALIBRATION` SIDS with
history, all training countries count, SIDS and the others weighing the same in total.

Blend, fitted per request on the training countries. Each training country that reports the year and
has other years is a pseudo-missing point: its observed value is the truth, its temporal estimate
comes from its other years (the year is dropped), its cross-sectional estimate is its out-of-fold
CV prediction (`result["oof"]`, from a model that never saw it), and its shock excludes itself. The
countries being imputed are never among them, so nothing the blend learns comes from their values.
  - Candidates: inverse-variance blends of the shifted temporal estimate and the cross-section,
    weight of the own series w = v_c / (v_t + v_c), with v_c = k × (SIDS CV MSE of the
    cross-section), over β in `SHOCK_SHARES` and k in `FACTORS` (2⁻¹⁰…2¹⁶: cross-section only … own
    series only). The pair with the lowest balanced mean absolute error is selected.
  - Gate: selection on the same points flatters the winner, so the selection is repeated in
    `GATE_FOLDS` folds over the training countries, each fold scored by parameters chosen on the
    others. The selected blend replaces plain interpolation only when its honest mean absolute
    error over the SIDS training countries (same fallback as the shock) is lower than
    interpolation's by more than `GATE_Z` standard errors (a one-sided test of the paired
    differences); otherwise the model is the own series alone
    (β = 0, w = 1). Most indicators move smoothly and their interpolation is hard to beat: there
    the model is interpolation with calibrated intervals, and it departs from it only where the
    training countries show, out of sample, that the year's cross-section or shock does better.
  - Interval: split-conformal on the same points. The score is |truth − point| / s with s the
    nominal standard deviation (√(v_t·v_c / (v_t + v_c)) for a blend, √v_t for the own series);
    the half-width is s × the ⌈0.9·(n + 1)⌉-th smallest score (finite-sample correction), over the
    SIDS training countries (the imputed countries are SIDS) when at least `MIN_SIDS_CALIBRATION`
    have history, otherwise over all training countries.
A country without any other observation, or a request with fewer than `MIN_INNER` training
countries with history, keeps the cross-sectional estimate and its interval unchanged.
"""

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from common.accuracy import conformal_quantile
from common.cache import Memo
from models.twolvlImp.training import balanced_weights

Z90 = 1.6448536269514722
MIN_CALIBRATION = 20
"""Fewer hidden-point samples than this: the indicator cannot calibrate its own intervals."""
FLAT_QUANTILE = 0.1
DEFAULT_Q = 2.5
"""Normalised 90 % quantile used only when an indicator has too few samples to calibrate (rare)."""
SMOOTH_CURVES = ("pchip", "akima")
"""Interpolators of scipy.interpolate (imported on first use, or by the model's COMPUTE_WARMUP)."""
CURVES = ("linear", *SMOOTH_CURVES)
"""Candidate curves through a country's other years (linear is the reference); beyond its first or
last observed year every curve is flat."""
CURVE_WINDOW = 4
"""Observed years used on each side of the target year: PCHIP's and Akima's value between two
observations depends on the three nearest on either side, so this only bounds the cost."""
CURVE_EVIDENCE_YEARS = 6
"""The curve is chosen on observations within this many years of the target year."""
CURVE_CACHE_SIZE = 128
FACTORS = 2.0 ** np.arange(-10, 17)
"""Candidate ratios k of the cross-sectional variance to its SIDS CV MSE."""
SHOCK_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Candidate shares β of the year's shock added to the temporal estimate."""
GATE_FOLDS = 5
GATE_Z = 2.0
"""Standard errors by which the blend must beat interpolation out of sample to be used."""
MIN_INNER = 9
"""Fewest pseudo-missing points for a 90 % conformal quantile (⌈0.9·(n + 1)⌉ ≤ n)."""
MIN_SIDS_CALIBRATION = 20
TINY = 1e-12


@dataclass(frozen=True)
class Temporal:
    """Temporal estimates of some countries in one year (NaN where a country has no history)."""

    estimate: pd.Series
    half_width: pd.Series
    q: float
    samples: int


@dataclass(frozen=True)
class Blend:
    """What was fitted on the training countries.

    `cross_variance` (v_c) is None when the gate kept the own series alone. `gain`, `gain_se`: the
    honest mean absolute error of the selected blend minus that of the temporal estimate alone over
    the SIDS training countries, and its standard error.
    """

    shock: float
    share: float
    cross_variance: float | None
    q: float
    gain: float
    gain_se: float
    samples: int
    calibration: int

    def point(self, t, v_t, c):
        """(weight of the own series, point, nominal sd) of countries with temporal t, v_t and cross-section c."""
        sd_t = np.sqrt(v_t)
        if self.cross_variance is None:
            return np.ones_like(sd_t), t, sd_t
        return combine(t + self.share * self.shock * sd_t, v_t, c, self.cross_variance)


def _volatility(years: np.ndarray, values: np.ndarray) -> float:
    """σ² per year of a series: the mean of (Δvalue)² / Δyears over consecutive observations."""
    if len(values) < 2:
        return np.nan
    return float(np.mean(np.diff(values) ** 2 / np.diff(years)))


def _loo(years: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hide each point in turn: (|error|, gap, σ² without it) of its interpolation from the rest.

    Needs at least 3 points. Without point k the consecutive terms (k−1, k) and (k, k+1) give way
    to the single term (k−1, k+1), so every σ² comes from one cumulative pass.
    """
    m = len(values)
    terms = np.diff(values) ** 2 / np.diff(years)
    total = terms.sum()
    err, gap, var = np.empty(m), np.empty(m), np.empty(m)
    err[0], gap[0], var[0] = abs(values[0] - values[1]), years[1] - years[0], total - terms[0]
    err[-1], gap[-1], var[-1] = abs(values[-1] - values[-2]), years[-1] - years[-2], total - terms[-1]
    left, right = years[1:-1] - years[:-2], years[2:] - years[1:-1]
    span = left + right
    err[1:-1] = np.abs(values[1:-1] - (values[:-2] + (values[2:] - values[:-2]) * left / span))
    gap[1:-1] = left * right / span
    var[1:-1] = total - terms[:-1] - terms[1:] + (values[2:] - values[:-2]) ** 2 / span
    return err, gap, var / (m - 2)


def _floor(variances: np.ndarray) -> float:
    """Volatility given to a flat series: the lower decile of the indicator's positive ones."""
    positive = variances[np.isfinite(variances) & (variances > 0)]
    return float(np.quantile(positive, FLAT_QUANTILE)) if len(positive) else 0.0


def _with_floor(variances: np.ndarray, floor: float) -> np.ndarray:
    return np.where(variances > 0, variances, floor)


def _rows(table: pd.DataFrame):
    years = table.columns.astype(int).to_numpy(dtype=float)
    values = table.to_numpy(dtype=np.float64)
    for country, row in zip(table.index, values):
        seen = ~np.isnan(row)
        yield country, years[seen], row[seen]


def calibrate(table: pd.DataFrame) -> tuple[float, int]:
    """(q, samples): the conformal 90 % quantile of normalised hidden-point errors of `table`.

    `table`: country × year values of one indicator, as the model sees them (imputed point missing).
    """
    errors, gaps, variances = [], [], []
    for _, years, values in _rows(table):
        if len(values) >= 3:
            err, gap, var = _loo(years, values)
            errors.append(err)
            gaps.append(gap)
            variances.append(var)
    if not errors:
        return DEFAULT_Q, 0
    err, gap, var = (np.concatenate(parts) for parts in (errors, gaps, variances))
    scale = np.sqrt(_with_floor(var, _floor(var)) * gap)
    usable = scale > 0
    scores = err[usable] / scale[usable]
    if len(scores) < MIN_CALIBRATION:
        return DEFAULT_Q, len(scores)
    return conformal_quantile(scores), len(scores)


def temporal(table: pd.DataFrame, year: str, countries: list[str], curve: str = CURVES[0]) -> Temporal:
    """Temporal estimate (`curve` through their other years) and 90 % half-width of `countries` in `year`."""
    q, samples = calibrate(table)
    target = float(year)
    sigma2 = np.array([_volatility(years, values) for _, years, values in _rows(table) if len(values) >= 2])
    floor = _floor(sigma2)
    typical = float(np.median(sigma2)) if len(sigma2) else np.nan
    rows = table.reindex(countries).drop(columns=[year], errors="ignore")
    estimate, half = {}, {}
    for country, years, values in _rows(rows):
        if len(values) == 0:
            estimate[country] = half[country] = np.nan
            continue
        before, after = years[years < target], years[years > target]
        if len(before) and len(after):
            dl, dr = target - before[-1], after[0] - target
            gap = dl * dr / (dl + dr)
        else:
            gap = target - before[-1] if len(before) else after[0] - target
        own = _volatility(years, values)
        variance = float(_with_floor(np.array(own), floor)) if np.isfinite(own) else typical
        estimate[country] = _curve_at(years, values, target, curve)
        half[country] = q * float(np.sqrt(variance * gap)) if np.isfinite(variance) else np.nan
    return Temporal(pd.Series(estimate, dtype=float), pd.Series(half, dtype=float), q, samples)


def _smooth_curve(curve: str):
    from scipy.interpolate import Akima1DInterpolator, PchipInterpolator

    return {"pchip": PchipInterpolator, "akima": Akima1DInterpolator}[curve]


def _curve_at(years: np.ndarray, values: np.ndarray, target: float, curve: str) -> float:
    """The value of `curve` through a country's observed (sorted) years at `target`."""
    if curve == "linear" or len(values) < 3 or not years[0] < target < years[-1]:
        return float(np.interp(target, years, values))
    split = int(np.searchsorted(years, target))
    window = slice(max(0, split - CURVE_WINDOW), split + CURVE_WINDOW)
    return float(_smooth_curve(curve)(years[window], values[window])(target))


def _curve_differences(years: np.ndarray, values: np.ndarray, around: float) -> np.ndarray | None:
    """Mean over the country's observations within CURVE_EVIDENCE_YEARS of `around` (each hidden in
    turn, and interpolated from the others) of |error| of each smooth curve minus |error| of linear
    interpolation; None without such an observation between two others."""
    rows = []
    for i in range(1, len(values) - 1):
        if abs(years[i] - around) <= CURVE_EVIDENCE_YEARS:
            others = np.arange(len(values)) != i
            errors = [abs(_curve_at(years[others], values[others], years[i], c) - values[i]) for c in CURVES]
            rows.append(np.subtract(errors[1:], errors[0]))
    return np.mean(rows, axis=0) if rows else None


def _choose(frame: pd.DataFrame, year: str) -> str:
    differences = [
        d
        for _, years, values in _rows(frame)
        if len(values) >= 3 and (d := _curve_differences(years, values, float(year))) is not None
    ]
    if len(differences) < MIN_INNER:
        return CURVES[0]
    stacked = np.array(differences)
    mean = stacked.mean(axis=0)
    upper = mean + GATE_Z * stacked.std(axis=0, ddof=1) / np.sqrt(len(stacked))
    passing = np.flatnonzero(upper < 0)
    return CURVES[1 + int(passing[np.argmin(mean[passing])])] if len(passing) else CURVES[0]


_CHOSEN = Memo(CURVE_CACHE_SIZE)


def choose_curve(table: pd.DataFrame, year: str, sids: list[str]) -> str:
    """The curve for the temporal estimate of the SIDS in `year`: the smooth one that beats linear
    interpolation most on the SIDS' own observations near `year` (the year itself left out, so the
    choice is the same whichever SIDS are being imputed), if it beats it by more than GATE_Z
    standard errors over countries; linear otherwise. Remembered by the table's content."""
    frame = table.reindex(sids).drop(columns=[year], errors="ignore")
    key = (
        pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes() + "|".join(frame.columns).encode(),
        year,
    )
    return _CHOSEN.get(key, lambda: _choose(frame, year))


def combine(t, v_t, c, v_c):
    """Inverse-variance blend of temporal t and cross-sectional c: (weight of t, point, nominal sd)."""
    weight = v_c / (v_t + v_c)
    return weight, weight * t + (1 - weight) * c, np.sqrt(v_t * v_c / (v_t + v_c))


def _shock_without_each(z: np.ndarray, focus: np.ndarray) -> np.ndarray:
    """Each point's year shock computed without it (`focus`-weighted mean of the others' z)."""
    return (np.sum(focus * z) - focus * z) / np.maximum(np.sum(focus) - focus, TINY)


def _shock(z: np.ndarray, focus: np.ndarray) -> float:
    return float(np.sum(focus * z) / np.sum(focus))


def _select(truth, t, sd_t, cross, mse, balance, focus, z) -> tuple[float, float]:
    """(β, v_c) of the candidate blend with the lowest balanced mean absolute error on these points."""
    shock = _shock_without_each(z, focus)
    best, chosen = np.inf, (0.0, np.inf)
    for share in SHOCK_SHARES:
        shifted = t + share * shock * sd_t
        for k in FACTORS:
            v_c = max(k * mse, TINY)
            error = np.sum(balance * np.abs(combine(shifted, sd_t**2, cross, v_c)[1] - truth))
            if error < best:
                best, chosen = error, (share, v_c)
    return chosen


def _gate_folds(n: int):
    """(train, test) index pairs of GATE_FOLDS folds over n points (fixed seed: repeatable)."""
    order = np.random.default_rng(0).permutation(n)
    for fold in range(GATE_FOLDS):
        test = order[fold::GATE_FOLDS]
        yield np.setdiff1d(order, test), test


def _honest_errors(truth, t, sd_t, cross, mse, balance, focus, z) -> np.ndarray:
    """|error| of each point under the blend selected on the other `GATE_FOLDS` − 1 folds."""
    errors = np.empty(len(truth))
    for train, test in _gate_folds(len(truth)):
        share, v_c = _select(
            truth[train], t[train], sd_t[train], cross[train], mse, balance[train], focus[train], z[train]
        )
        shifted = t[test] + share * _shock(z[train], focus[train]) * sd_t[test]
        errors[test] = np.abs(combine(shifted, sd_t[test] ** 2, cross[test], v_c)[1] - truth[test])
    return errors


def _mean_and_se(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted mean and its standard error (with the weights' effective sample size)."""
    w = weights / np.sum(weights)
    mean = float(np.sum(w * values))
    squares = float(np.sum(w**2))
    return mean, float(np.sqrt(np.sum(w * (values - mean) ** 2) * squares / max(1 - squares, TINY)))


def fit_blend(
    truth: np.ndarray, t: np.ndarray, v_t: np.ndarray, cross: np.ndarray, mse: float, is_sids: np.ndarray
) -> Blend:
    """Shock, blend and interval multiplier fitted on pseudo-missing training countries.

    Arrays: one entry per training country with history (truth, temporal estimate and variance,
    out-of-fold cross-sectional prediction, SIDS flag); `mse`: the cross-sectional SIDS CV MSE.
    """
    balance = balanced_weights(is_sids)
    enough_sids = int(is_sids.sum()) >= MIN_SIDS_CALIBRATION
    focus = is_sids.astype(float) if enough_sids else balance
    sd_t = np.sqrt(v_t)
    z = (truth - t) / sd_t
    honest = _honest_errors(truth, t, sd_t, cross, mse, balance, focus, z)
    gain, gain_se = _mean_and_se(honest - np.abs(truth - t), focus)
    share, cross_variance = (
        _select(truth, t, sd_t, cross, mse, balance, focus, z) if gain + GATE_Z * gain_se < 0 else (0.0, None)
    )
    calibration = is_sids if enough_sids else np.ones_like(is_sids)
    uncalibrated = Blend(
        _shock(z, focus), share, cross_variance, 1.0, gain, gain_se, len(truth), int(calibration.sum())
    )
    _, point, sd = uncalibrated.point(t, v_t, cross)
    return replace(uncalibrated, q=conformal_quantile(np.abs(truth - point)[calibration] / sd[calibration]))


def _variance(half_width) -> np.ndarray:
    return np.maximum((np.asarray(half_width, dtype=float) / Z90) ** 2, TINY)


def blend(result: dict, table: pd.DataFrame, year: str) -> dict:
    """The cross-sectional `result` (imputation.run) with history: points, bounds and weights.

    `table`: country × year of the target, the imputed countries' values of `year` missing. Only
    imputed countries (those with intervals) change; `temporalWeights` gives each one's weight on
    its own series (0 = cross-sectional only), `historyMethod` what was chosen.
    """
    imputed = list(result["lowerIntervals"])
    truths = table.reindex(columns=[year])[year].reindex(list(result["oof"]))
    training = list(truths.index[truths.notna()])
    curve = choose_curve(table, year, sorted(result["data"]))
    found = temporal(table, year, training + imputed, curve)
    inner = [c for c in training if np.isfinite(found.half_width[c])]
    weights = dict.fromkeys(imputed, 0.0)
    if len(inner) < MIN_INNER:
        method = {
            "used": False,
            "curve": curve,
            "shock": None,
            "shockShare": 0.0,
            "crossSection": False,
            "trainingCountries": len(inner),
        }
        return result | {"temporalWeights": weights, "historyMethod": method}
    sids = set(result["data"]) - set(imputed)
    fitted = fit_blend(
        truths[inner].to_numpy(),
        found.estimate[inner].to_numpy(),
        _variance(found.half_width[inner]),
        np.array([result["oof"][c] for c in inner]),
        float(result["sids_rmse"]) ** 2,
        np.array([c in sids for c in inner]),
    )
    data, lower, upper = dict(result["data"]), dict(result["lowerIntervals"]), dict(result["upperIntervals"])
    for country in imputed:
        t, h = found.estimate[country], found.half_width[country]
        if not (np.isfinite(t) and np.isfinite(h)):
            continue
        weight, point, sd = fitted.point(t, float(_variance(h)), data[country])
        point, width = float(point), fitted.q * float(sd)
        data[country], lower[country], upper[country] = point, point - width, point + width
        weights[country] = float(weight)
    method = {
        "used": True,
        "curve": curve,
        "shock": fitted.shock,
        "shockShare": fitted.share,
        "crossSection": fitted.cross_variance is not None,
        "trainingCountries": fitted.samples,
    }
    return result | {
        "data": data,
        "lowerIntervals": lower,
        "upperIntervals": upper,
        "temporalWeights": weights,
        "historyMethod": method,
    }
