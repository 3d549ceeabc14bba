"""Catalog checks and the main computation of Statimpute, runnable without the app."""

import math

import pandas as pd

from common.constants import SIDS_SET
from common.errors import InvalidInput
from common.plausibility import Support
from common.progress import Progress
from models.Statimpute.backtest import run_backtest
from models.Statimpute.interpolation import InterpolationFailed, TooFewPoints, interpolate_series, min_points
from models.Statimpute.schemas import (
    BacktestRequest,
    BacktestResponse,
    ClippedYear,
    ImputeRequest,
    ImputeResponse,
    SplitSeries,
)
from shared_dataloader import IndicatorDataset


def targets(indicators: IndicatorDataset, dataset_code: str | None = None) -> dict[str, str]:
    """{indicator code: name} of indicators with at least one SIDS value (optionally of one dataset)."""
    meta = indicators.meta
    if dataset_code is not None:
        if dataset_code not in indicators.datasets:
            raise InvalidInput(
                f"Unknown dataset {dataset_code!r}; valid: {', '.join(sorted(indicators.datasets))}",
                field="query.dataset",
            )
        meta = indicators.indicators_of(dataset_code)
    values = indicators.values
    sids_rows = values[values.index.get_level_values(0).isin(SIDS_SET)]
    with_data = set(sids_rows[sids_rows.notna().any(axis=1)].index.get_level_values(1))
    return {code: name for code, name in meta["name"].items() if code in with_data}


def countries(indicators: IndicatorDataset, target: str) -> list[str]:
    """SIDS with at least one value of `target`."""
    if target not in indicators.meta.index:
        raise InvalidInput(
            f"Unknown target {target!r}; GET /statimpute/targets lists the indicators", field="query.target"
        )
    table = indicators.indicator_table(target)
    table = table[table.index.isin(SIDS_SET)]
    return sorted(table.index[table.notna().any(axis=1)])


def _series(body: ImputeRequest, indicators: IndicatorDataset) -> pd.Series:
    """The country's series of the target (int years, NaN where missing), after checking both."""
    if body.target not in indicators.meta.index:
        raise InvalidInput(
            f"Unknown target {body.target!r}; GET /statimpute/targets lists the indicators",
            field="body.target",
        )
    valid = countries(indicators, body.target)
    if body.country not in valid:
        raise InvalidInput(
            f"Country {body.country!r} has no data for {body.target}; valid: {', '.join(valid)}"
            if valid
            else f"No SIDS has data for {body.target}; choose another target",
            field="body.country",
        )
    row = indicators.indicator_table(body.target).loc[body.country]
    return pd.Series(row.to_numpy(dtype="float64"), index=[int(year) for year in row.index])


def _order(body: ImputeRequest) -> int | None:
    return body.d if body.method.name in ("spline", "polynomial") else None


def impute(
    body: ImputeRequest, indicators: IndicatorDataset, progress: Progress | None = None
) -> ImputeResponse:
    """Fill the missing years of one SIDS country's series of `body.target`."""
    series = _series(body, indicators)
    if progress:
        progress("interpolating", 0.1)
    order = _order(body)
    try:
        result = interpolate_series(series, body.method.name, body.direction.name, order)
    except TooFewPoints as exc:
        raise InvalidInput(
            f"{body.country} has {exc.observed} observed year(s) of {body.target}; "
            f"method {body.method.name} needs at least {exc.needed}. "
            "Choose a method that needs fewer points (e.g. linear needs 2).",
            field="body.method",
        ) from exc
    except InterpolationFailed as exc:
        raise InvalidInput(str(exc), field="body.method") from exc
    if progress:
        progress("done", 1.0)
    values, clipped = clip_filled(result.series, result.filled_years, indicators.support(body.target))
    return ImputeResponse(
        missing_years=[str(year) for year in result.filled_years],
        imputed_series=SplitSeries(
            index=[[body.target, body.country]],
            columns=[int(y) for y in values.index],
            data=[values.tolist()],
        ),
        clipped=clipped,
    )


def clip_filled(
    series: pd.Series, filled_years: list[int], support: Support
) -> tuple[pd.Series, list[ClippedYear]]:
    """The series with its filled years clipped to the indicator's plausible range, and what was clipped."""
    values, clipped = series.copy(), []
    for year in filled_years:
        raw = float(values[year])
        value = support.clip_point(raw)
        if value != raw:
            values[year] = value
            clipped.append(ClippedYear(year=str(year), raw=raw))
    return values, clipped


SECONDS_PER_FOLD = 0.15
"""Measured: a fold of the slowest method (akima) on a long series, on a 2-core machine."""


def backtest_seconds(body: BacktestRequest, indicators: IndicatorDataset) -> float:
    """Expected duration of `backtest`: one interpolation of the series per fold."""
    return SECONDS_PER_FOLD * body.folds


def backtest(
    body: BacktestRequest, indicators: IndicatorDataset, progress: Progress | None = None
) -> BacktestResponse:
    """Hide the observed years of the series in `body.folds` folds, re-interpolate and score them."""
    series = _series(body, indicators)
    order = _order(body)
    observed = int(series.notna().sum())
    needed = min_points(body.method.name, order)
    largest_fold = math.ceil(observed / body.folds)
    if observed < body.folds or observed - largest_fold < needed:
        raise InvalidInput(
            f"{body.country} has {observed} observed year(s) of {body.target}; with {body.folds} folds up to "
            f"{largest_fold} are hidden at once and method {body.method.name} needs {needed} left. Use fewer "
            "folds (minimum 2), a method that needs fewer points, or a country with more years.",
            field="body.folds",
        )
    try:
        result = run_backtest(series, body.method.name, body.direction.name, order, body.folds, progress)
    except ValueError as exc:
        raise InvalidInput(f"Cannot backtest this request: {exc}.", field="body.method") from exc
    return BacktestResponse(
        target=body.target, country=body.country, method=body.method.name, folds=body.folds, **result
    )
