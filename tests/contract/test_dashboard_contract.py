"""The responses the dashboard reads, checked against JSON Schemas written from SPEC (§4, §5.1–5.4),
not from this service's code: `tests/contract/schemas/*.json`. SPEC's fields are required; extra
keys only where they follow SPEC's nesting. Several real requests per response, and proof that the
old (wrong) shapes fail."""

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from models.SurveyCluster.schemas import EXAMPLE_DATA, EXAMPLE_METADATA

SCHEMAS = Path(__file__).parent / "schemas"


def schema(name: str, definition: str | None = None) -> Draft202012Validator:
    document = json.loads((SCHEMAS / f"{name}.json").read_text())
    Draft202012Validator.check_schema(document)
    if definition is not None:
        document = {**document, "$ref": f"#/$defs/{definition}"}
    return Draft202012Validator(document)


def conforms(validator: Draft202012Validator, response) -> None:
    assert response.status_code == 200, response.text
    errors = sorted(validator.iter_errors(response.json()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def test_params(client):
    validator = schema("params")
    conforms(validator, client.get("/params"))
    entries = client.get("/params").json()
    assert {"twolvlImp", "CountryCorrelation", "Statimpute", "SurveyCluster"} <= {e["model"] for e in entries}
    twolvl = next(e for e in entries if e["model"] == "twolvlImp")
    history = next(i for i in twolvl["inputs"] if i["parameter"] == "history")
    assert history["default"] is True and "conditions" not in history
    old = copy.deepcopy(entries)
    next(
        i for i in next(e for e in old if e["model"] == "twolvlImp")["inputs"] if i["parameter"] == "history"
    )["conditions"] = [{"required": False}]
    with pytest.raises(ValidationError):
        validator.validate(old)


@pytest.mark.parametrize(
    ("path", "definition"),
    [
        ("/twolvlImp/target_years", "target_years"),
        ("/twolvlImp/target_sample_size", "sample_size"),
        ("/twolvlImp/predictor_sample_size", "sample_size"),
        ("/twolvlImp/datasets?target_year=2001", "datasets"),
        ("/twolvlImp/datasets?target_year=2010", "datasets"),
        ("/twolvlImp/targets?target_year=2001&dataset=wdi", "targets"),
        ("/twolvlImp/targets?target_year=2012&dataset=wdi", "targets"),
        ("/twolvlImp/dimensions?target=wdi-EG.ELC.ACCS.ZS&target_year=2001&dataset=wdi", "dimensions"),
        ("/twolvlImp/dimensions?target=wdi-SE.XPD.TOTL.GD.ZS&target_year=2010&dataset=wdi", "dimensions"),
    ],
)
def test_twolvlimp_listings(client, path, definition):
    conforms(schema("twolvlimp_listings", definition), client.get(path))


@pytest.mark.parametrize(
    ("scheme", "definition"),
    [("MANUAL", "predictors_manual"), ("AFS", "predictors_counts"), ("PCA", "predictors_counts")],
)
def test_twolvlimp_predictors(client, scheme, definition):
    body = {"target_year": "2001", "dataset": "wdi", "target": "wdi-EG.ELC.ACCS.ZS", "scheme": scheme}
    conforms(schema("twolvlimp_listings", definition), client.post("/twolvlImp/predictors", json=body))


PREDICT_BASE = {
    "target_year": "2001",
    "dataset": "wdi",
    "target": "wdi-EG.ELC.ACCS.ZS",
    "interpolator": "KNNImputer",
    "scheme": "MANUAL",
    "manual_predictors": ["wdi-AG.LND.AGRI.ZS"],
    "estimators": 10,
    "model": "rfr",
    "interval": "quantile",
}


@pytest.mark.parametrize(
    "changes",
    [
        {"history": False},
        {},
        {"interval": "bootstrap", "scheme": "PCA", "number_predictor": 3, "manual_predictors": None},
        {"target_year": "2010", "target": "wdi-SE.XPD.TOTL.GD.ZS", "model": "etr", "history": False},
    ],
    ids=["cross-section", "history-default", "pca-bootstrap", "other-target-year"],
)
def test_twolvlimp_predict(client, changes):
    body = {k: v for k, v in {**PREDICT_BASE, **changes}.items() if v is not None}
    response = client.post("/twolvlImp/predict", json=body)
    conforms(schema("twolvlimp_predict"), response)
    result = response.json()["indicatorJson"]
    assert list(result["data"]) == [body["target_year"]]
    year_first = {
        "indicatorJson": {body["target_year"]: {f: v[body["target_year"]] for f, v in result.items()}}
    }
    with pytest.raises(ValidationError):
        schema("twolvlimp_predict").validate(year_first)


@pytest.mark.parametrize(
    "body",
    [
        {"dataset": "wdi", "category": "Financial Sector", "country": "SGP", "year": "2014"},
        {"dataset": "wdi", "category": "Financial Sector", "country": "JAM", "year": "2014"},
        {"dataset": "wdi", "category": "Financial Sector", "country": "FJI", "year": "2010"},
    ],
)
def test_correlate(client, body):
    response = client.post("/correlation/correlate", json=body)
    conforms(schema("correlation", "correlate"), response)
    corr = response.json()["country_corr"]
    assert body["country"] in corr and len(corr[body["country"]]) == len(corr["index"])


@pytest.mark.parametrize("k", [2, 3, 5])
def test_cluster(client, k):
    body = {"dataset": "wdi", "category": "Financial Sector", "year": "2014", "k": k}
    response = client.post("/correlation/cluster", json=body)
    conforms(schema("correlation", "cluster"), response)
    result = response.json()
    assert len(result["country"]) == len(result["label"]) and max(result["label"]) < k


@pytest.mark.parametrize(
    ("country", "method", "direction"),
    [
        ("CUB", "linear", "both"),
        ("JAM", "spline", "forward"),
        ("TLS", "pchip", "backward"),
        ("PNG", "akima", "both"),
    ],
)
def test_statimpute_impute(client, country, method, direction):
    body = {
        "target": "wdi-EG.ELC.ACCS.ZS",
        "country": country,
        "method": method,
        "direction": direction,
        "d": 3,
    }
    response = client.post("/statimpute/impute", json=body)
    conforms(schema("statimpute_impute"), response)
    series = response.json()["imputed_series"]
    assert len(series["columns"]) == len(series["data"][0])


@pytest.mark.parametrize(
    ("factor", "max_k"), [("Water access", 5), ("Household size", 3), ("Water access", 2)]
)
def test_survey_clustering(client, factor, max_k):
    body = {"data": EXAMPLE_DATA, "metadata": EXAMPLE_METADATA, "factor": factor, "max_k": max_k}
    conforms(schema("survey_clustering"), client.post("/survey/clustering", json=body))


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/twolvlImp/predict", {"json": {**PREDICT_BASE, "model": "xgb"}}, 422),
        ("POST", "/twolvlImp/predict", {"json": {**PREDICT_BASE, "histroy": True}}, 422),
        (
            "POST",
            "/statimpute/impute",
            {"json": {"target": "nope", "country": "CUB", "method": "linear"}},
            422,
        ),
        (
            "POST",
            "/sampleapi/predict",
            {"content": b'{"indicator": ', "headers": {"content-type": "application/json"}},
            422,
        ),
        (
            "POST",
            "/sampleapi/predict",
            {"content": b"indicator=x", "headers": {"content-type": "text/plain"}},
            415,
        ),
        ("GET", "/twolvlImp/predict", {}, 405),
        ("GET", "/no/such/path", {}, 404),
    ],
)
def test_error_body(client, method, path, kwargs, status):
    response = client.request(method, path, **kwargs)
    assert response.status_code == status
    schema("error").validate(response.json())
    with pytest.raises(ValidationError):
        schema("error").validate({"detail": response.json()["detail"]})
