"""Backtest of one interpolation: hide observed years of the series fold by fold, re-interpolate.

Folds: the observed years, KFold(shuffle, random_state=0). The 90 % interval of a hidden year is
conformal: the prediction ± the 90th percentile of the absolute errors of the same method when the
fold's remaining years are themselves hidden the same way (inner KFold with the same number of
folds), so the interval reflects gaps of the size the backtest creates. Baselines on the same
folds: the mean of the remaining years, and their linear interpolation, flat beyond the first/last
(`np.interp`). Years the method leaves empty (e.g. before the first observation with `forward`)
are listed in `not_predicted` and not scored.
"""

from typing import TypedDict

import numpy as np
import pandas as pd

from common.accuracy import conformal_quantile, scores
from common.progress import Progress
from models.Statimpute.interpolation import interpolate_series


class HiddenYear(TypedDict):
    """One hidden year of the backtest: the truth, the method's estimate and interval, the baselines."""

    year: int
    fold: int
    truth: float
    prediction: float | None
    lower: float | None
    upper: float | None
    series_mean: float
    linear: float


def load_libraries() -> None:
    """Import scikit-learn's part used here (imported on first use, or by the model's COMPUTE_WARMUP)."""
    import sklearn.model_selection  # noqa: F401


def split_years(years: list[int], folds: int, seed: int = 0) -> list[list[int]]:
    """The hidden years of each fold."""
    ordered = sorted(years)
    from sklearn.model_selection import KFold

    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    return [[ordered[i] for i in test] for _, test in splitter.split(ordered)]


def _hidden_predictions(
    series: pd.Series, hidden: list[int], method: str, direction: str, order: int | None
) -> dict[int, float]:
    filled = interpolate_series(series.where(~series.index.isin(hidden)), method, direction, order).series
    return {year: float(filled[year]) for year in hidden if year in filled.index}


def conformal_half_width(
    series: pd.Series, method: str, direction: str, order: int | None, folds: int
) -> float | None:
    """90 % quantile of |error| over the observed years of `series`, each hidden fold-wise once."""
    years = [int(y) for y in series.index[series.notna()]]
    if len(years) < folds:
        return None
    errors = []
    for hidden in split_years(years, folds):
        try:
            predicted = _hidden_predictions(series, hidden, method, direction, order)
        except ValueError:
            continue
        errors += [abs(value - series[year]) for year, value in predicted.items()]
    if not errors:
        return None
    return conformal_quantile(errors)


def run_backtest(
    series: pd.Series,
    method: str,
    direction: str,
    order: int | None,
    folds: int,
    progress: Progress | None = None,
) -> dict:
    """Per-year truths and estimates, and the scores of the method and both baselines.

    `series`: one country's values indexed by int year (NaN where missing). Raises ValueError
    (TooFewPoints, InterpolationFailed) when a fold leaves the method too little to work with.
    """
    report = progress or (lambda stage, fraction: None)
    observed = series.dropna()
    rows: list[HiddenYear] = []
    not_predicted: list[int] = []
    for number, hidden in enumerate(split_years(list(observed.index), folds)):
        report(f"fold {number + 1}/{folds}", number / folds)
        kept = series.where(~series.index.isin(hidden))
        try:
            predicted = _hidden_predictions(series, hidden, method, direction, order)
        except ValueError as exc:
            raise ValueError(f"fold {number + 1} (hiding {', '.join(map(str, hidden))}): {exc}") from exc
        half = conformal_half_width(kept, method, direction, order, folds)
        known = kept.dropna()
        mean = float(known.mean())
        linear = np.interp(hidden, known.index.to_numpy(dtype=float), known.to_numpy(dtype=float))
        for year, line in zip(hidden, linear):
            value = predicted.get(year)
            if value is None:
                not_predicted.append(year)
            lower = upper = None
            if value is not None and half is not None:
                lower, upper = value - half, value + half
            rows.append(
                {
                    "year": year,
                    "fold": number + 1,
                    "truth": float(observed[year]),
                    "prediction": value,
                    "lower": lower,
                    "upper": upper,
                    "series_mean": mean,
                    "linear": float(line),
                }
            )
    report("scoring", 1.0)
    rows.sort(key=lambda row: row["year"])
    table = pd.DataFrame(rows)
    truth = table["truth"].to_numpy()
    scored = table[table["prediction"].notna()]
    bounded = scored[scored["lower"].notna()]
    model = scores(scored["truth"].to_numpy(), scored["prediction"].to_numpy(dtype=float))
    if len(bounded):
        model["coverage"] = scores(
            bounded["truth"].to_numpy(),
            bounded["prediction"].to_numpy(dtype=float),
            bounded["lower"].to_numpy(dtype=float),
            bounded["upper"].to_numpy(dtype=float),
        )["coverage"]
    return {
        "scores": {
            "model": model,
            "series_mean": scores(truth, table["series_mean"].to_numpy()),
            "linear": scores(truth, table["linear"].to_numpy()),
        },
        "years": rows,
        "not_predicted": sorted(not_predicted),
    }
