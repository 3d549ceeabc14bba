"""POST /twolvlImp/predict on the bundled data: invariants per option class, determinism, errors."""

import numpy as np
import pytest

from common.constants import SIDS_SET
from helpers.indicators import year_of
from models.twolvlImp import preprocess
from models.twolvlImp.imputation import Options, run

P = "/twolvlImp"
YEAR, DATASET, TARGET = "2001", "wdi", "wdi-EG.ELC.ACCS.ZS"
MANUAL = ["wdi-AG.LND.AGRI.ZS", "wdi-SP.DYN.LE00.IN"]


def request(**overrides) -> dict:
    body = {
        "target_year": YEAR,
        "dataset": DATASET,
        "target": TARGET,
        "interpolator": "KNNImputer",
        "scheme": "MANUAL",
        "manual_predictors": MANUAL,
        "estimators": 10,
        "model": "rfr",
        "interval": "quantile",
        "history": False,
    }
    return {k: v for k, v in {**body, **overrides}.items() if v is not None}


def predict(client, **overrides) -> dict:
    response = client.post(f"{P}/predict", json=request(**overrides))
    assert response.status_code == 200, response.text
    return year_of(response.json(), YEAR)


def check_invariants(result: dict, dataset, target: str = TARGET, year: str = YEAR) -> None:
    column = dataset.year_table(year)[target]
    sids = column[column.index.isin(SIDS_SET)]
    observed, missing = sids.dropna(), sids[sids.isna()].index
    for country, value in observed.items():
        assert result["data"][country] == value
    assert set(result["lowerIntervals"]) == set(result["upperIntervals"]) == set(missing)
    assert set(result["data"]) == set(sids.index)
    for country in missing:
        assert (
            result["lowerIntervals"][country] <= result["data"][country] <= result["upperIntervals"][country]
        )
    assert sum(result["featureImportances"].values()) == pytest.approx(1.0)
    assert sum(result["categoryImportances"].values()) == pytest.approx(1.0)
    names = list(result["featureImportances"])
    assert target not in names
    assert result["correlation"]["index"] == result["correlation"]["columns"] == names
    assert np.allclose(np.diag(np.array(result["correlation"]["data"], dtype=float)), 1.0)
    assert result["rmse"] > 0 and 0 <= result["rmse_deviation"] <= 1


@pytest.mark.parametrize(
    "options",
    [
        {"model": "rfr", "interval": "quantile"},
        {
            "interpolator": "SimpleImputer",
            "scheme": "PCA",
            "number_predictor": 4,
            "manual_predictors": None,
            "model": "etr",
            "interval": "bootstrap",
        },
        {"scheme": "AFS", "number_predictor": 3, "manual_predictors": None, "model": "gbr"},
        {"interpolator": "SimpleImputer", "model": "all", "interval": "bootstrap"},
    ],
    ids=[
        "knn-manual-rfr-quantile",
        "simple-pca-etr-bootstrap",
        "knn-afs-gbr-quantile",
        "simple-manual-all-bootstrap",
    ],
)
def test_option_classes_keep_the_invariants(client, dataset, options):
    result = predict(client, **options)
    check_invariants(result, dataset)
    expected = options.get("number_predictor") or len(MANUAL)
    assert len(result["featureImportances"]) == expected
    if options.get("scheme") is None:
        assert sorted(result["featureImportances"]) == sorted(MANUAL)
    assert result["model"] == (options["model"] if options["model"] != "all" else result["model"])
    assert result["model"] in {"rfr", "etr", "gbr"}


def test_iterative_imputer_on_a_slice_of_the_year(dataset):
    """Iterative imputation of all ~350 predictors takes seconds; 40 real columns show the invariants."""
    table = dataset.year_table(YEAR)
    others = [c for c in table.columns if c.startswith("wdi-SP.") and c not in MANUAL][:37]
    sliced = table[[TARGET, *MANUAL, *others]]
    prepared = preprocess.prepare(sliced, TARGET, SIDS_SET, "IterativeImputer", 0)
    assert not np.isnan(prepared.X_train).any() and not np.isnan(prepared.X_predict).any()
    options = Options(
        scheme="MANUAL", model="rfr", estimators=5, interval="quantile", manual_predictors=tuple(MANUAL)
    )
    observed = sliced.loc[sliced.index.isin(SIDS_SET), TARGET]
    result = run(prepared, observed, dataset.meta["category"], options)
    check_invariants(result, dataset)


def test_bootstrap_interval_differs_from_quantile(client):
    quantile = predict(client, interval="quantile")
    bootstrap = predict(client, interval="bootstrap")
    assert quantile["data"] == bootstrap["data"]
    assert quantile["lowerIntervals"] != bootstrap["lowerIntervals"]

    # bootstrapped residual offsets are the same for every imputed country (before clipping)
    def raw_upper(country: str) -> float:
        clipped = [c["raw"] for c in bootstrap["clipped"].get(country, []) if c["field"] == "upperIntervals"]
        return clipped[0] if clipped else bootstrap["upperIntervals"][country]

    widths = {round(raw_upper(c) - bootstrap["data"][c], 9) for c in bootstrap["upperIntervals"]}
    assert len(widths) == 1


def test_same_request_gives_byte_identical_response(client):
    body = request(scheme="AFS", number_predictor=3, manual_predictors=None, interval="bootstrap")
    first = client.post(f"{P}/predict", json=body)
    second = client.post(f"{P}/predict", json=body)
    assert first.status_code == 200 and first.content == second.content


@pytest.mark.parametrize(
    ("overrides", "field", "hint"),
    [
        ({"manual_predictors": [TARGET]}, "body.manual_predictors", "own predictors"),
        ({"manual_predictors": ["wdi-NOPE"]}, "body.manual_predictors", "/predictors"),
        ({"manual_predictors": MANUAL[:1] * 2}, "body.manual_predictors", "more than once"),
        ({"manual_predictors": None}, "body", "manual_predictors is required when scheme is MANUAL"),
        ({"scheme": "AFS", "manual_predictors": None}, "body", "number_predictor is required"),
        ({"scheme": "PCA", "number_predictor": 41}, "body.number_predictor", "40"),
        ({"interpolator": "Magic"}, "body.interpolator", "KNNImputer, IterativeImputer, SimpleImputer"),
        ({"model": "xgb"}, "body.model", "rfr, gbr, etr, all"),
        ({"estimators": 0}, "body.estimators", "1"),
        ({"estimators": 100000}, "body.estimators", "500"),
        ({"target_year": "1800"}, "body.target_year", "/target_years"),
        ({"dataset": "nope"}, "body.dataset", "valid:"),
        ({"target": "ei-coal_consumption_per_cap"}, "body.target", "/targets"),
    ],
)
def test_invalid_requests_are_422_saying_what_is_valid(client, overrides, field, hint):
    for path in ("/predict", "/estimate"):
        response = client.post(P + path, json=request(**overrides))
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "invalid_input" and hint in body["detail"]
        assert any(e["field"].startswith(field) for e in body["errors"])
