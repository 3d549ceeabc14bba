"""Backtest of one request: hide the observed SIDS values of the target/year fold by fold, re-run the
same pipeline, and score it and two baselines on the hidden truths.

Folds: the SIDS with a value, sorted, split by KFold(shuffle, random_state=0). In each fold the
hidden values are removed from the year's table (so predictors, imputers, selection and training
see exactly what they would if those values were missing) and from the target's series (so the
history model and the own-series baseline cannot see them).

Baselines on the same folds: `cross_country_mean` = mean of the target over every country still
reporting it that year (interval: 5th–95th percentile of those values); `own_series_linear` =
linear interpolation of the country's own series without the hidden year, flat beyond its
first/last observed year (`np.interp`), or the cross-country mean for a country without another year.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd

from common.accuracy import scores
from common.plausibility import Support
from common.progress import Progress
from models.twolvlImp.history import blend
from models.twolvlImp.imputation import Options, clip_to_support, run
from models.twolvlImp.preprocess import Prepared

PrepareFn = Callable[[pd.DataFrame, tuple[str, ...]], Prepared]
"""Builds (or fetches) the prepared matrices of the year's table with one fold hidden."""


def assign_folds(countries: list[str], folds: int, seed: int = 0) -> list[tuple[str, ...]]:
    """The hidden countries of each fold (countries sorted first, so the split is deterministic)."""
    from sklearn.model_selection import KFold

    ordered = sorted(countries)
    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    return [tuple(ordered[i] for i in test) for _, test in splitter.split(ordered)]


def own_series(
    series: pd.DataFrame, year: str, countries: tuple[str, ...], fallback: float
) -> dict[str, float]:
    """Linear interpolation of each country's other years at `year`, flat at the ends."""
    at = float(year)
    years = series.columns.astype(int).to_numpy(dtype=float)
    out = {}
    for country in countries:
        row = series.loc[country].to_numpy(dtype=np.float64)
        seen = ~np.isnan(row) & (years != at)
        out[country] = float(np.interp(at, years[seen], row[seen])) if seen.any() else fallback
    return out


def _hide(frame: pd.DataFrame, column: str, countries: tuple[str, ...]) -> pd.DataFrame:
    return frame.assign(**{column: frame[column].mask(frame.index.isin(countries))})


def run_backtest(
    year_table: pd.DataFrame,
    series: pd.DataFrame,
    target: str,
    year: str,
    sids: frozenset[str],
    categories: pd.Series,
    options: Options,
    folds: int,
    history: bool,
    prepare_fold: PrepareFn,
    support: Support,
    progress: Progress | None = None,
) -> dict:
    """Per-country truths and estimates, and the scores of the model and both baselines.

    `year_table`: country × indicator of the year; `series`: country × year of the target; the
    model's estimates are clipped to `support` as predict's are.
    Raises ValueError when the pipeline cannot train on a fold.
    """
    report = progress or (lambda stage, fraction: None)
    observed = year_table[target]
    reporting = [c for c in observed.index[observed.notna()] if c in sids]
    rows = []
    for number, hidden in enumerate(assign_folds(reporting, folds)):

        def fold_progress(stage: str, fraction: float, number: int = number) -> None:
            report(f"fold {number + 1}/{folds}: {stage}", (number + fraction) / folds)

        fold_progress("imputing predictors", 0.0)
        masked = _hide(year_table, target, hidden)
        prepared = prepare_fold(masked, hidden)
        masked_sids = masked.loc[masked.index.isin(sids), target]
        try:
            result = run(prepared, masked_sids, categories, options, fold_progress)
        except ValueError as exc:
            raise ValueError(f"fold {number + 1} (hiding {', '.join(hidden)}): {exc}") from exc
        cross = clip_to_support(result, support)
        result = (
            clip_to_support(blend(result, _hide(series, year, hidden), year), support) if history else cross
        )
        training = masked[target].dropna().to_numpy()
        mean = float(training.mean())
        low, high = np.percentile(training, [5, 95])
        linear = own_series(series, year, hidden, mean)
        for country in hidden:
            rows.append(
                {
                    "country": country,
                    "fold": number + 1,
                    "truth": float(observed[country]),
                    "prediction": float(result["data"][country]),
                    "lower": float(result["lowerIntervals"][country]),
                    "upper": float(result["upperIntervals"][country]),
                    "cross_sectional": float(cross["data"][country]) if history else None,
                    "temporal_weight": result["temporalWeights"][country] if history else None,
                    "cross_lower": float(cross["lowerIntervals"][country]),
                    "cross_upper": float(cross["upperIntervals"][country]),
                    "cross_country_mean": mean,
                    "mean_lower": float(low),
                    "mean_upper": float(high),
                    "own_series_linear": linear[country],
                }
            )
    report("scoring", 1.0)
    rows.sort(key=lambda row: str(row["country"]))
    table = pd.DataFrame(rows)
    truth = table["truth"].to_numpy()
    result_scores = {
        "model": scores(
            truth, table["prediction"].to_numpy(), table["lower"].to_numpy(), table["upper"].to_numpy()
        )
    }
    if history:
        result_scores["cross_sectional"] = scores(
            truth,
            table["cross_sectional"].to_numpy(),
            table["cross_lower"].to_numpy(),
            table["cross_upper"].to_numpy(),
        )
    result_scores["cross_country_mean"] = scores(
        truth,
        table["cross_country_mean"].to_numpy(),
        table["mean_lower"].to_numpy(),
        table["mean_upper"].to_numpy(),
    )
    result_scores["own_series_linear"] = scores(truth, table["own_series_linear"].to_numpy())
    internal = ("cross_lower", "cross_upper", "mean_lower", "mean_upper")
    countries = [{k: v for k, v in row.items() if k not in internal} for row in rows]
    return {
        "target": target,
        "target_year": year,
        "folds": folds,
        "scores": result_scores,
        "countries": countries,
    }
