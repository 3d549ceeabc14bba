"""Interpolate one yearly series with pandas' `interpolate` (plain pandas/scipy, no HTTP).

SPEC §5.3: the method fills only the gaps between the first and last observed years; years
outside that span hold the nearest observed value (never an extrapolated curve), so `direction`
means the same for every method: `forward` fills what lies after the first observed year (trailing
years included), `backward` what lies before the last one (leading years included), `both` all.
"""

from dataclasses import dataclass

import pandas as pd

ORDER_METHODS = frozenset({"spline", "polynomial"})
MIN_POINTS = {
    "linear": 2,
    "nearest": 2,
    "zero": 2,
    "slinear": 2,
    "quadratic": 3,
    "cubic": 4,
    "piecewise_polynomial": 2,
    "pchip": 2,
    "akima": 2,
    "cubicspline": 2,
}


class TooFewPoints(ValueError):
    """The series has fewer observed values than the method needs."""

    def __init__(self, method: str, needed: int, observed: int) -> None:
        super().__init__(
            f"method {method} needs at least {needed} observed years; this series has {observed}"
        )
        self.needed = needed
        self.observed = observed


class InterpolationFailed(ValueError):
    """The method could not interpolate this series (scipy refused it)."""


@dataclass(frozen=True)
class Interpolated:
    series: pd.Series
    """The observed and filled values, indexed by year (int); years still missing are left out."""
    filled_years: list[int]


def min_points(method: str, order: int | None = None) -> int:
    """Observed values `method` needs: spline/polynomial of order d need d + 1."""
    if method in ORDER_METHODS:
        if order is None:
            raise ValueError(f"method {method} needs an order")
        return order + 1
    return MIN_POINTS[method]


def interpolate_series(
    series: pd.Series, method: str, direction: str, order: int | None = None
) -> Interpolated:
    """Fill the gaps of `series` (index: int years, ascending); observed values stay as they are."""
    observed = int(series.notna().sum())
    needed = min_points(method, order)
    if observed < needed:
        raise TooFewPoints(method, needed, observed)
    options = {"order": order} if method in ORDER_METHODS else {}
    try:
        inside = series.astype("float64").interpolate(method=method, limit_area="inside", **options)
    except Exception as exc:
        raise InterpolationFailed(f"method {method} cannot interpolate this series ({exc})") from exc
    filled = inside.where(series.isna(), series)
    first, last = series.first_valid_index(), series.last_valid_index()
    if direction in ("forward", "both"):
        filled[series.index > last] = series[last]
    if direction in ("backward", "both"):
        filled[series.index < first] = series[first]
    new = series.isna() & filled.notna()
    return Interpolated(series=filled.dropna(), filled_years=[int(y) for y in series.index[new]])
