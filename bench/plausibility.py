"""Count implausible values (SPEC §5.7) the imputation models return on the bundled data.

Statimpute: every method × direction × SIDS with data, for each target below (spline and
polynomial with d = 3). twolvlImp: each target below in its year (MANUAL, two predictors, rfr, 50
trees), both interval kinds, with and without `history`. A value is implausible when a point lies outside the indicator's support or
further than 25 % of its observed range outside that range, or an interval bound lies outside the
support. The support is computed here from the data and the indicator's name, independently of the
service. Run from the repo root: `python bench/plausibility.py`.
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.settings import DEFAULT_DATASET_PATH
from models.Statimpute import service as statimpute
from models.Statimpute.schemas import ImputeRequest, Method
from models.twolvlImp import service as twolvlimp
from models.twolvlImp.schemas import TrainRequest
from shared_dataloader import load_indicator_dataset

SERIES_TARGETS = [
    "wdi-EG.ELC.ACCS.ZS",
    "wdi-SE.XPD.TOTL.GD.ZS",
    "gapminder-gdp_total_yearly_growth",
    "wdi-NY.GDP.MKTP.KD.ZG",
    "wdi-IT.NET.BBND.P2",
]
YEAR_TARGETS = {
    "wdi-EG.ELC.ACCS.ZS": "2001",
    "wdi-SE.XPD.TOTL.GD.ZS": "2010",
    "wdi-SH.DYN.MORT": "2005",
    "wdi-NY.GDP.MKTP.KD.ZG": "2010",
    "wdi-IT.NET.BBND.P2": "2012",
}
PREDICTORS = ["wdi-AG.LND.AGRI.ZS", "wdi-SP.DYN.LE00.IN"]
METHODS = [method.name for method in Method]
DIRECTIONS = ["forward", "backward", "both"]


def ranges(indicators, target: str) -> tuple[tuple[float, float], tuple[float, float]]:
    values = indicators.indicator_table(target).to_numpy().ravel()
    values = values[~np.isnan(values)]
    low = 0.0 if values.min() >= 0 else -np.inf
    high = 100.0 if "%" in indicators.meta.at[target, "name"] and values.max() <= 100 else np.inf
    margin = 0.25 * (values.max() - values.min())
    return (max(low, values.min() - margin), min(high, values.max() + margin)), (low, high)


def outside(values, bounds: tuple[float, float]) -> int:
    return sum(1 for v in values if not bounds[0] - 1e-9 <= v <= bounds[1] + 1e-9)


def statimpute_counts(indicators, target: str) -> tuple[int, int, float]:
    (points, _), checked, bad = ranges(indicators, target), 0, 0
    countries = statimpute.countries(indicators, target)
    worst = 0.0
    for country in countries:
        for method in METHODS:
            for direction in DIRECTIONS:
                body = ImputeRequest(
                    target=target,
                    country=country,
                    method=method,
                    direction=direction,
                    d=3 if method in ("spline", "polynomial") else None,
                )
                try:
                    result = statimpute.impute(body, indicators)
                except Exception:  # too few points for the method: a 422, nothing returned
                    continue
                series = dict(zip(result.imputed_series.columns, result.imputed_series.data[0]))
                filled = [series[int(year)] for year in result.missing_years]
                checked += len(filled)
                bad += outside(filled, points)
                worst = max([worst, *(abs(v) for v in filled if not points[0] <= v <= points[1])])
    return checked, bad, worst


def year_fields(indicator_json: dict, year: str) -> dict:
    """One year's fields, whichever way the response nests them (field first, or year first)."""
    if "data" in indicator_json:
        return {field: by_year[year] for field, by_year in indicator_json.items()}
    return indicator_json[year]


def twolvlimp_counts(
    indicators, target: str, year: str, interval: str, history: bool
) -> tuple[int, int, int]:
    points, bounds = ranges(indicators, target)
    body = TrainRequest(
        target_year=year,
        dataset="wdi",
        target=target,
        interpolator="KNNImputer",
        scheme="MANUAL",
        manual_predictors=PREDICTORS,
        estimators=50,
        model="rfr",
        interval=interval,
        history=history,
    )
    fields = year_fields(twolvlimp.predict(body, indicators).model_dump()["indicatorJson"], year)
    imputed = list(fields["lowerIntervals"])
    bad_points = outside([fields["data"][c] for c in imputed], points)
    bad_bounds = outside([*fields["lowerIntervals"].values(), *fields["upperIntervals"].values()], bounds)
    return len(imputed), bad_points, bad_bounds


def main() -> None:
    indicators = load_indicator_dataset(DEFAULT_DATASET_PATH)
    started = time.perf_counter()
    total = 0
    print("Statimpute (every method × direction × SIDS with data):")
    for target in SERIES_TARGETS:
        checked, bad, worst = statimpute_counts(indicators, target)
        total += bad
        print(
            f"  {target:24s} filled values {checked:6d}, implausible {bad:5d}"
            + (f" (largest |value| {worst:,.0f})" if bad else "")
        )
    print(f"twolvlImp (MANUAL {', '.join(PREDICTORS)}, rfr, 50 trees):")
    for target, year in YEAR_TARGETS.items():
        for interval in ("quantile", "bootstrap"):
            for history in (False, True):
                imputed, points, bounds = twolvlimp_counts(indicators, target, year, interval, history)
                total += points + bounds
                print(
                    f"  {target:24s} {year} {interval:9s} history={history!s:5s} imputed {imputed:3d}, "
                    f"implausible points {points}, bounds {bounds}"
                )
    print(f"implausible values in total: {total} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
