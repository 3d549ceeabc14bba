"""SPEC §5.7 for twolvlImp: points and interval bounds of every imputed SIDS lie in the target's
plausible range, for several targets, both interval kinds, with and without history; what was
clipped is reported in `indicatorJson.clipped[year][country]`."""

import pytest

from helpers.indicators import plausible_ranges, year_of

TARGETS = {"wdi-EG.ELC.ACCS.ZS": "2001", "wdi-SE.XPD.TOTL.GD.ZS": "2010", "wdi-NY.GDP.MKTP.KD.ZG": "2010"}
"""A percentage of population, a share of GDP never negative, and a growth rate negative at times."""


def request(target: str, year: str, interval: str, history: bool) -> dict:
    return {
        "target_year": year,
        "dataset": "wdi",
        "target": target,
        "interpolator": "KNNImputer",
        "scheme": "MANUAL",
        "manual_predictors": ["wdi-AG.LND.AGRI.ZS", "wdi-SP.DYN.LE00.IN"],
        "estimators": 10,
        "model": "rfr",
        "interval": interval,
        "history": history,
    }


@pytest.mark.parametrize("history", [False, True], ids=["cross-section", "history"])
@pytest.mark.parametrize("interval", ["quantile", "bootstrap"])
@pytest.mark.parametrize("target", TARGETS)
def test_points_and_bounds_are_plausible(client, dataset, target, interval, history):
    year = TARGETS[target]
    response = client.post("/twolvlImp/predict", json=request(target, year, interval, history))
    assert response.status_code == 200, response.text
    result = year_of(response.json(), year)
    points, bounds = plausible_ranges(dataset, target)
    assert result["lowerIntervals"]
    for country, lower in result["lowerIntervals"].items():
        value, upper = result["data"][country], result["upperIntervals"][country]
        assert bounds[0] <= lower <= value <= upper <= bounds[1], (country, lower, value, upper)
        assert points[0] <= value <= points[1]
    assert set(result["clipped"]) <= set(result["lowerIntervals"])
    for country, changes in result["clipped"].items():
        for change in changes:
            kept = result[change["field"]][country]
            assert kept != change["raw"]
            if change["field"] == "data":
                assert not points[0] <= change["raw"] <= points[1] and kept in points
            else:  # clipped to the support, or moved to its clipped point
                assert kept in bounds or kept == result["data"][country]


def test_guinea_bissau_history_bound_is_clipped_at_zero(client):
    """Electricity access 2001 with history: Guinea-Bissau's own series says about 1 %; its raw lower
    bound is negative, returned as 0 and reported."""
    response = client.post("/twolvlImp/predict", json=request("wdi-EG.ELC.ACCS.ZS", "2001", "quantile", True))
    result = year_of(response.json(), "2001")
    assert result["data"]["GNB"] < 5 and result["lowerIntervals"]["GNB"] == 0.0
    assert [c["field"] for c in result["clipped"]["GNB"]] == ["lowerIntervals"]
    assert result["clipped"]["GNB"][0]["raw"] < 0
