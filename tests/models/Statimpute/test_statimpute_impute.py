"""Statimpute over HTTP on the bundled dataset: listings, all methods and directions, errors."""

import numpy as np
import pandas as pd
import pytest

from common.constants import SIDS_SET
from models.Statimpute.interpolation import MIN_POINTS
from models.Statimpute.schemas import Method

METHODS = [method.name for method in Method]
ORDERED = {"spline", "polynomial"}


def body(target: str, country: str, method: str = "linear", **extra) -> dict:
    payload = {"target": target, "country": country, "method": method, "direction": "both"}
    if method in ORDERED:
        payload["d"] = 2
    return {**payload, **extra}


def sids_series(dataset) -> pd.DataFrame:
    values = dataset.values
    return values[values.index.get_level_values(0).isin(SIDS_SET)]


def series_with_gaps(dataset) -> tuple[str, str, pd.Series]:
    """A SIDS series with leading, inner and trailing gaps and at least 8 observed years."""
    for (country, target), row in sids_series(dataset).iterrows():
        observed = np.flatnonzero(row.notna().to_numpy())
        if (
            len(observed) >= 8
            and observed[0] > 2
            and observed[-1] < len(row) - 3
            and (np.diff(observed) > 1).sum() >= 2
        ):
            return target, country, row
    raise AssertionError("no suitable series in the dataset")


@pytest.fixture(scope="module")
def gappy(dataset) -> tuple[str, str, pd.Series]:
    return series_with_gaps(dataset)


def series_with_points(dataset, count: int) -> tuple[str, str]:
    observed = sids_series(dataset).notna().sum(axis=1)
    country, target = observed.index[observed == count][0]
    return target, country


def impute(client, payload: dict):
    return client.post("/statimpute/impute", json=payload)


def test_targets_lists_indicators_with_sids_data(client):
    everything = client.get("/statimpute/targets").json()
    wdi = client.get("/statimpute/targets", params={"dataset": "wdi"}).json()
    assert "wdi-EG.ELC.ACCS.ZS" in everything and wdi
    assert set(wdi) <= set(everything) and all(code.startswith("wdi-") for code in wdi)
    response = client.get("/statimpute/targets", params={"dataset": "nope"})
    assert response.status_code == 422 and "wdi" in response.json()["detail"]


def test_countries_are_the_sids_with_values(client, dataset):
    target = "wdi-EG.ELC.ACCS.ZS"
    countries = client.get("/statimpute/countries", params={"target": target}).json()
    table = dataset.indicator_table(target)
    expected = sorted(c for c in table.index if c in SIDS_SET and table.loc[c].notna().any())
    assert countries == expected and "CUB" in countries
    response = client.get("/statimpute/countries", params={"target": "no-such"})
    assert response.status_code == 422 and "/statimpute/targets" in response.json()["detail"]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_keeps_observed_values_and_reports_filled_years(client, gappy, method):
    target, country, row = gappy
    response = impute(client, body(target, country, method))
    assert response.status_code == 200, response.json()
    result = response.json()
    series = result["imputed_series"]
    assert series["index"] == [[target, country]]
    filled = dict(zip(series["columns"], series["data"][0]))
    observed = {int(year): value for year, value in row.dropna().items()}
    assert all(filled[year] == pytest.approx(value) for year, value in observed.items())
    missing = [int(year) for year in result["missing_years"]]
    assert sorted(filled) == sorted([*observed, *missing])
    assert all(row[str(year)] != row[str(year)] for year in missing)
    inner = [int(y) for y in row.index[row.isna()] if min(observed) < int(y) < max(observed)]
    assert set(inner) <= set(missing), "every method fills the gaps between observed years"
    assert all(np.isfinite(filled[year]) for year in missing)


def test_linear_fills_inner_gaps_on_the_straight_line(client, gappy):
    target, country, row = gappy
    result = impute(client, body(target, country)).json()
    filled = dict(zip(result["imputed_series"]["columns"], result["imputed_series"]["data"][0]))
    expected = pd.Series(row.to_numpy(), index=row.index.astype(int)).interpolate(limit_area="inside")
    for year in result["missing_years"]:
        if not np.isnan(expected[int(year)]):
            assert filled[int(year)] == pytest.approx(expected[int(year)])


def test_directions_decide_which_ends_are_filled(client, gappy):
    target, country, row = gappy
    years = {
        d: [int(y) for y in impute(client, body(target, country, direction=d)).json()["missing_years"]]
        for d in ("forward", "backward", "both")
    }
    first, last = int(row.first_valid_index()), int(row.last_valid_index())
    assert not [y for y in years["forward"] if y < first] and [y for y in years["forward"] if y > last]
    assert not [y for y in years["backward"] if y > last] and [y for y in years["backward"] if y < first]
    assert set(years["forward"]) | set(years["backward"]) == set(years["both"])


def test_direction_defaults_to_both(client, gappy):
    target, country, _ = gappy
    payload = body(target, country)
    del payload["direction"]
    assert impute(client, payload).json() == impute(client, body(target, country)).json()


@pytest.mark.parametrize("method", sorted(ORDERED))
def test_order_is_required_for_spline_and_polynomial(client, gappy, method):
    target, country, _ = gappy
    payload = body(target, country, method)
    del payload["d"]
    response = impute(client, payload)
    assert (
        response.status_code == 422 and "d is required when method is " + method in response.json()["detail"]
    )
    assert impute(client, body(target, country, method, d=4)).status_code == 422


@pytest.mark.parametrize(("field", "value"), [("method", "cubic_spline"), ("direction", "sideways")])
def test_unknown_enum_names_list_the_supported_ones(client, gappy, field, value):
    target, country, _ = gappy
    response = impute(client, body(target, country, **{field: value}))
    assert response.status_code == 422
    assert ("cubicspline" if field == "method" else "backward") in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "order", "needed"),
    [("linear", None, 2), ("quadratic", None, 3), ("cubic", None, 4), ("spline", 3, 4), ("polynomial", 2, 3)],
)
def test_too_few_points_is_a_422_saying_how_many_are_needed(client, dataset, method, order, needed):
    target, country = series_with_points(dataset, needed - 1)
    payload = body(target, country, method, **({"d": order} if order else {}))
    response = impute(client, payload)
    assert response.status_code == 422
    assert f"needs at least {needed}" in response.json()["detail"]
    target, country = series_with_points(dataset, needed)
    assert impute(client, body(target, country, method, **({"d": order} if order else {}))).status_code == 200


@pytest.mark.parametrize("method", [m for m in METHODS if m not in ORDERED])
def test_min_points_are_enough_for_pandas(method):
    """A series with exactly the minimum number of points interpolates without error."""
    needed = MIN_POINTS[method]
    values = [np.nan] * 12
    for position in (1, 4, 6, 9)[:needed]:
        values[position] = float(position * position)
    series = pd.Series(values, index=range(2000, 2012))
    series.interpolate(method=method, limit_direction="both")


@pytest.mark.parametrize(
    ("target", "country", "expected"),
    [
        ("no-such-indicator", "CUB", "/statimpute/targets"),
        ("wdi-EG.ELC.ACCS.ZS", "USA", "valid: ABW"),
        ("wdi-EG.ELC.ACCS.ZS", "XXX", "valid: ABW"),
    ],
)
def test_unknown_target_or_country_says_what_is_valid(client, target, country, expected):
    response = impute(client, body(target, country))
    assert response.status_code == 422 and expected in response.json()["detail"]


def test_service_runs_without_the_app_and_reports_progress(dataset, gappy):
    from models.Statimpute import service
    from models.Statimpute.schemas import ImputeRequest

    target, country, _ = gappy
    stages = []
    result = service.impute(
        ImputeRequest(**body(target, country)),
        dataset,
        progress=lambda stage, fraction: stages.append((stage, fraction)),
    )
    assert result.missing_years and stages[-1] == ("done", 1.0)
