"""The worked example model (models/sampleapi) over HTTP on the bundled dataset: its figures recomputed
here from the raw indicator table, the default year, and bad input answered with a 422."""

import numpy as np
import pytest

from common.constants import SIDS_SET

INDICATOR, YEAR = "wdi-EG.ELC.ACCS.ZS", "2015"


def expected_groups(dataset, indicator: str, year: str) -> dict[str, np.ndarray]:
    column = dataset.indicator_table(indicator)[year]
    values = {"sids": [], "others": []}
    for country, value in column.items():
        if not np.isnan(value):
            values["sids" if country in SIDS_SET else "others"].append(value)
    return {group: np.array(found) for group, found in values.items()}


def test_predict_compares_sids_with_the_other_countries(client, dataset):
    response = client.post("/sampleapi/predict", json={"indicator": INDICATOR, "year": YEAR})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["indicator"] == INDICATOR and answer["year"] == YEAR
    assert answer["name"] == dataset.meta.at[INDICATOR, "name"]
    for group, values in expected_groups(dataset, INDICATOR, YEAR).items():
        assert answer[group]["countries"] == values.size > 0
        assert answer[group]["mean"] == pytest.approx(values.mean())
        assert answer[group]["median"] == pytest.approx(np.median(values))
    assert answer["mean_difference"] == pytest.approx(answer["sids"]["mean"] - answer["others"]["mean"])


def test_the_year_defaults_to_the_latest_with_sids_data(client, dataset):
    table = dataset.indicator_table(INDICATOR)
    sids_years = [year for year in table.columns if table.loc[table.index.isin(SIDS_SET), year].notna().any()]
    answer = client.post("/sampleapi/predict", json={"indicator": INDICATOR}).json()
    assert answer["year"] == max(sids_years, key=int)
    assert answer["sids"]["countries"] > 0


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"indicator": "wdi-NOT.AN.INDICATOR"}, "body.indicator", "POST /sampleapi/indicators"),
        ({"indicator": INDICATOR, "year": "1066"}, "body.year", "valid:"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_what_is_valid(client, body, field, says):
    response = client.post("/sampleapi/predict", json=body)
    assert response.status_code == 422
    error = response.json()
    assert error["code"] == "invalid_input" and [e["field"] for e in error["errors"]] == [field]
    assert says in error["detail"]
