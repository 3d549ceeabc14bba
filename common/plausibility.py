"""Plausible outputs (SPEC §5.7): an indicator's support and observed range, and clipping to them.

Support, from the data: never negative when no observation (any country, any year) is negative;
at most 100 when the name marks a percentage (`%`) and no observation exceeds 100; otherwise
unbounded on that side. Point values are also kept within 25 % of the observed range beyond it;
interval bounds only within the support (and around their point, which clipping may have moved).
"""

import math
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

RANGE_MARGIN = 0.25
PERCENT_MAX = 100.0


class ClipNote(TypedDict):
    """One clipped value: which output it was in and its value before clipping."""

    field: str
    raw: float


@dataclass(frozen=True)
class Support:
    low: float
    """Lowest plausible value (−inf: unbounded)."""
    high: float
    observed_min: float
    observed_max: float

    @property
    def point_low(self) -> float:
        return max(self.low, self.observed_min - RANGE_MARGIN * (self.observed_max - self.observed_min))

    @property
    def point_high(self) -> float:
        return min(self.high, self.observed_max + RANGE_MARGIN * (self.observed_max - self.observed_min))

    def clip_point(self, value: float) -> float:
        return min(max(value, self.point_low), self.point_high)

    def clip_bound(self, value: float) -> float:
        return min(max(value, self.low), self.high)


def indicator_support(values: np.ndarray, name: str) -> Support:
    """The support of an indicator from all its observations (NaN ignored) and its name."""
    observed = np.asarray(values, dtype="float64")
    observed = observed[np.isfinite(observed)]
    if observed.size == 0:
        return Support(-math.inf, math.inf, -math.inf, math.inf)
    smallest, largest = float(observed.min()), float(observed.max())
    low = 0.0 if smallest >= 0 else -math.inf
    high = PERCENT_MAX if "%" in name and largest <= PERCENT_MAX else math.inf
    return Support(low, high, smallest, largest)


def clip_estimates(
    support: Support, points: dict[str, float], lower: dict[str, float], upper: dict[str, float]
) -> tuple[dict[str, float], dict[str, float], dict[str, float], dict[str, list[ClipNote]]]:
    """Points, lower and upper bounds (keyed alike, bounds only for some keys) clipped to `support`.

    Returns the clipped three and `{key: [{"field": "data" | "lowerIntervals" | "upperIntervals",
    "raw": value before clipping}]}` for every key with a changed value. A bound is also moved to
    its clipped point when the point would otherwise fall outside its interval.
    """
    points, lower, upper = dict(points), dict(lower), dict(upper)
    clipped: dict[str, list[ClipNote]] = {}

    def note(key: str, field: str, raw: float) -> None:
        clipped.setdefault(key, []).append({"field": field, "raw": raw})

    for key, raw in points.items():
        value = support.clip_point(raw)
        if value != raw:
            points[key] = value
            note(key, "data", raw)
    for field, bounds, side in (("lowerIntervals", lower, min), ("upperIntervals", upper, max)):
        for key, raw in bounds.items():
            value = side(support.clip_bound(raw), points[key])
            if value != raw:
                bounds[key] = value
                note(key, field, raw)
    return points, lower, upper, clipped
