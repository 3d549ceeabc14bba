"""Listing endpoints of twolvlImp on the bundled data, and their error messages."""

import math

import pytest

from models.twolvlImp import catalog

P = "/twolvlImp"
YEAR, DATASET, TARGET = "2001", "wdi", "wdi-EG.ELC.ACCS.ZS"


def predictors_body(**overrides) -> dict:
    return {"target_year": YEAR, "dataset": DATASET, "target": TARGET, "scheme": "MANUAL", **overrides}


def test_target_years_are_years_of_the_dataset(client, dataset):
    years = client.get(f"{P}/target_years").json()
    assert YEAR in years and set(years) <= set(dataset.years)
    assert years == sorted(years)


def test_sample_sizes_follow_the_missing_thresholds(client, dataset):
    countries = len(dataset.countries)
    assert client.get(f"{P}/target_sample_size").json() == math.ceil(countries * 0.2)
    assert client.get(f"{P}/predictor_sample_size").json() == math.ceil(countries * 0.7)


def test_datasets_of_a_year_have_targets(client, dataset):
    listed = client.get(f"{P}/datasets", params={"target_year": YEAR}).json()
    assert DATASET in listed and listed[DATASET] == dataset.datasets[DATASET]
    for code in listed:
        assert client.get(f"{P}/targets", params={"target_year": YEAR, "dataset": code}).json()


def test_targets_belong_to_the_dataset_and_are_partly_missing(client, dataset):
    targets = client.get(f"{P}/targets", params={"target_year": YEAR, "dataset": DATASET}).json()
    assert TARGET in targets
    table = dataset.year_table(YEAR)
    for code, name in targets.items():
        assert dataset.meta.at[code, "dataset"] == DATASET and dataset.meta.at[code, "name"] == name
        missing = table[code].isna().mean() * 100
        assert 0 < missing < 80


def test_manual_predictors_exclude_the_target_and_respect_the_threshold(client, dataset):
    listed = client.post(f"{P}/predictors", json=predictors_body()).json()
    assert TARGET not in listed and "wdi-AG.LND.AGRI.ZS" in listed
    train = dataset.year_table(YEAR)
    train = train[train[TARGET].notna()]
    for code, label in list(listed.items())[:50]:
        assert train[code].isna().mean() < 0.3
        assert label == f"{dataset.meta.at[code, 'name']}-{dataset.meta.at[code, 'dimension']}"


@pytest.mark.parametrize("scheme", ["AFS", "PCA"])
def test_afs_and_pca_list_allowed_counts(client, scheme):
    counts = client.post(f"{P}/predictors", json=predictors_body(scheme=scheme)).json()
    assert counts == list(range(1, catalog.MAX_PREDICTORS + 1))


def test_dimensions_of_the_target(client, dataset):
    found = client.get(
        f"{P}/dimensions", params={"target_year": YEAR, "dataset": DATASET, "target": TARGET}
    ).json()
    assert {"label": dataset.meta.at[TARGET, "dimension"], "value": TARGET} in found


@pytest.mark.parametrize(
    ("path", "params", "field", "hint"),
    [
        ("/datasets", {"target_year": "1800"}, "query.target_year", "/target_years"),
        ("/targets", {"target_year": YEAR, "dataset": "nope"}, "query.dataset", "wdi"),
        (
            "/dimensions",
            {"target_year": YEAR, "dataset": "ei", "target": TARGET},
            "query.target",
            "/targets?target_year=2001&dataset=ei",
        ),
    ],
)
def test_listing_errors_say_what_is_valid(client, path, params, field, hint):
    response = client.get(P + path, params=params)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field and hint in response.json()["detail"]


def test_predictors_of_an_unknown_target_is_422(client):
    response = client.post(f"{P}/predictors", json=predictors_body(target="wdi-NOPE"))
    assert response.status_code == 422 and "/targets" in response.json()["detail"]


def test_params_describe_the_form(client):
    entry = next(e for e in client.get("/params").json() if e["model"] == "twolvlImp")
    inputs = {i["parameter"]: i for i in entry["inputs"]}
    assert entry["label"] == "Two Level Imputation"
    assert inputs["target_year"]["label"] == "The year under consideration"
    assert inputs["target_year"]["req_endpoint"]["endpoint"] == "/target_years"
    assert inputs["interpolator"]["values"]["KNNImputer"] == "K Nearest Neighbour Interpolation"
    assert inputs["manual_predictors"]["conditions"] == [{"required": [{"scheme": "MANUAL"}]}]
    assert inputs["manual_predictors"]["req_endpoint"]["method"] == "POST"
    assert inputs["number_predictor"]["conditions"] == [{"required": [{"scheme": "AFS"}, {"scheme": "PCA"}]}]
