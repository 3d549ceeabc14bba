"""SPEC §5.3 and §5.7 for Statimpute: every method × direction over every SIDS of several targets
fills the same years for the same direction, holds the nearest observed value outside the observed
span, and returns only plausible values (what had to be clipped is listed in `clipped`)."""

import numpy as np
import pandas as pd
import pytest

from helpers.indicators import plausible_ranges
from models.Statimpute import service
from models.Statimpute.interpolation import TooFewPoints
from models.Statimpute.schemas import ImputeRequest, Method

METHODS = [method.name for method in Method]
TARGETS = ["wdi-EG.ELC.ACCS.ZS", "wdi-SE.XPD.TOTL.GD.ZS", "gapminder-gdp_total_yearly_growth"]
"""A percentage of population (0–100), a share of GDP never negative, and a growth rate that is negative at times."""


def expected_years(row, direction: str) -> set[int]:
    """The missing years SPEC §5.3 says `direction` fills, whatever the method."""
    years = [int(y) for y in row.index]
    observed = [y for y, v in zip(years, row.to_numpy()) if not np.isnan(v)]
    first, last = observed[0], observed[-1]
    missing = [y for y, v in zip(years, row.to_numpy()) if np.isnan(v)]
    after_first = {y for y in missing if y > first}
    before_last = {y for y in missing if y < last}
    return {"forward": after_first, "backward": before_last, "both": after_first | before_last}[direction]


@pytest.mark.parametrize("target", TARGETS)
def test_every_method_and_direction_is_plausible_and_means_the_same(dataset, target):
    points, _ = plausible_ranges(dataset, target)
    table = dataset.indicator_table(target)
    checked = 0
    for country in service.countries(dataset, target):
        row = table.loc[country]
        observed = row.dropna()
        first, last = int(observed.index[0]), int(observed.index[-1])
        for method in METHODS:
            for direction in ("forward", "backward", "both"):
                body = ImputeRequest(
                    target=target,
                    country=country,
                    method=method,
                    direction=direction,
                    d=3 if method in ("spline", "polynomial") else None,
                )
                try:
                    result = service.impute(body, dataset)
                except Exception as exc:  # a 422 (too few points) returns nothing to check
                    assert isinstance(exc.__cause__, TooFewPoints), exc
                    continue
                values = dict(zip(result.imputed_series.columns, result.imputed_series.data[0]))
                filled = {int(y) for y in result.missing_years}
                assert filled == expected_years(row, direction), (country, method, direction)
                for year in filled:
                    assert points[0] <= values[year] <= points[1], (country, method, direction, year)
                    if year < first:
                        assert values[year] == observed.iloc[0]
                    elif year > last:
                        assert values[year] == observed.iloc[-1]
                for clip in result.clipped:
                    raw, kept = clip.raw, values[int(clip.year)]
                    assert not points[0] <= raw <= points[1] and kept in points
                checked += len(filled)
    assert checked > 1000


def test_the_reported_extrapolations_are_gone(client):
    """Timor-Leste 1990 electricity access was −4,356 % (spline) and +2,893 % (pchip); Papua New
    Guinea pchip −550 %: the leading years now hold the first observed value."""
    for country, method in (("TLS", "spline"), ("TLS", "pchip"), ("PNG", "pchip")):
        response = client.post(
            "/statimpute/impute",
            json={"target": "wdi-EG.ELC.ACCS.ZS", "country": country, "method": method, "d": 3},
        )
        assert response.status_code == 200, response.text
        result = response.json()
        series = dict(zip(result["imputed_series"]["columns"], result["imputed_series"]["data"][0]))
        first = min(int(y) for y in series if str(y) not in result["missing_years"])
        assert series[1990] == series[first] and 0 <= min(series.values()) <= max(series.values()) <= 100
        assert isinstance(result["clipped"], list)


def test_interior_overshoot_is_clipped_and_reported(dataset):
    """A cubic through a sparse percentage series can overshoot between observations; what it puts
    outside the support is clipped and listed with its raw value."""
    support = dataset.support("wdi-EG.ELC.ACCS.ZS")
    series = pd.Series([90.0, 104.0, 99.0, -3.0], index=[2000, 2001, 2002, 2003])
    values, clipped = service.clip_filled(series, [2001, 2003], support)
    assert values.tolist() == [90.0, 100.0, 99.0, 0.0]
    assert [(c.year, c.raw) for c in clipped] == [("2001", 104.0), ("2003", -3.0)]
