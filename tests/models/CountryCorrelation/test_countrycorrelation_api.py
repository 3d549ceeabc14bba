"""CountryCorrelation over HTTP on the bundled dataset: listings, correlate, cluster, errors."""

import numpy as np
import pytest

from common.constants import SIDS_SET
from models.CountryCorrelation.correlation import MIN_SHARED_INDICATORS

DATASET, CATEGORY, YEAR, COUNTRY = "wdi", "Financial Sector", "2014", "SGP"


def selection(**overrides) -> dict:
    return {"dataset": DATASET, "category": CATEGORY, "year": YEAR, **overrides}


def correlate(client, **overrides):
    return client.post("/correlation/correlate", json=selection(**{"country": COUNTRY, **overrides}))


def cluster(client, **overrides):
    return client.post("/correlation/cluster", json=selection(**{"k": 4, **overrides}))


def category_table(dataset):
    """Raw SIDS × indicators table of the default selection."""
    table = dataset.year_table(YEAR)
    codes = dataset.meta.index[(dataset.meta["dataset"] == DATASET) & (dataset.meta["category"] == CATEGORY)]
    return table.loc[table.index.isin(SIDS_SET), table.columns.isin(codes)]


def test_listings_chain_dataset_category_year_country(client, dataset):
    datasets = client.get("/correlation/datasets").json()
    assert DATASET in datasets and set(datasets) <= set(dataset.datasets)
    categories = client.get("/correlation/categories", params={"dataset": DATASET}).json()
    assert CATEGORY in categories and categories == sorted(categories)
    assert set(categories) <= set(dataset.indicators_of(DATASET)["category"])
    years = client.get("/correlation/years", params={"dataset": DATASET, "category": CATEGORY}).json()
    assert YEAR in years and set(years) <= set(dataset.years)
    countries = client.get("/correlation/countries", params=selection()).json()
    counts = category_table(dataset).notna().sum(axis=1)
    assert countries == sorted(counts.index[counts >= MIN_SHARED_INDICATORS])
    assert COUNTRY in countries and set(countries) <= SIDS_SET


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/correlation/categories", {"dataset": "nope"}, "query.dataset"),
        ("/correlation/years", {"dataset": DATASET, "category": "nope"}, "query.category"),
        ("/correlation/countries", selection(year="1900"), "query.year"),
    ],
)
def test_listing_errors_name_the_valid_values(client, path, params, field):
    response = client.get(path, params=params)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field and "valid" in response.json()["detail"]


def test_correlate_ranks_every_other_sids_with_enough_shared_indicators(client, dataset):
    response = correlate(client)
    assert response.status_code == 200, response.json()
    result = response.json()["country_corr"]
    assert set(result) == {"index", COUNTRY}
    others, values = result["index"], result[COUNTRY]
    assert len(others) == len(values) > 10 and COUNTRY not in others and set(others) <= SIDS_SET
    assert values == sorted(values, reverse=True) and all(-1 <= v <= 1 for v in values)
    table = category_table(dataset)
    shared = (table.notna() & table.loc[COUNTRY].notna()).sum(axis=1)
    assert not set(others) & set(shared.index[shared < MIN_SHARED_INDICATORS])


def test_correlate_is_pearson_on_standardized_indicators(client, dataset):
    result = correlate(client).json()["country_corr"]
    table = category_table(dataset)
    spread = table.std(ddof=0)
    usable = table.loc[:, (table.count() >= 2) & (spread > 0)]
    z = (usable - usable.mean()) / usable.std(ddof=0)
    other = result["index"][0]
    both = z.loc[COUNTRY].notna() & z.loc[other].notna()
    expected = np.corrcoef(z.loc[COUNTRY][both], z.loc[other][both])[0, 1]
    assert result[COUNTRY][0] == pytest.approx(expected)


def test_year_may_be_a_number_and_results_are_deterministic(client):
    assert correlate(client, year=int(YEAR)).json() == correlate(client).json()
    assert cluster(client, year=int(YEAR)).json() == cluster(client).json()


@pytest.mark.parametrize(
    ("overrides", "field", "hint"),
    [
        ({"dataset": "nope"}, "body.dataset", "wdi"),
        ({"category": "nope"}, "body.category", CATEGORY),
        ({"year": "1900"}, "body.year", YEAR),
        ({"year": "abcd"}, "body.year", YEAR),
        ({"country": "USA"}, "body.country", "not a SIDS"),
        ({"country": "AIA"}, "body.country", COUNTRY),
    ],
)
def test_correlate_rejects_what_is_not_in_the_catalog(client, overrides, field, hint):
    response = correlate(client, **overrides)
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == field and hint in body["detail"]


def test_cluster_labels_every_sids_with_data(client, dataset):
    result = cluster(client).json()
    table = category_table(dataset)
    assert result["country"] == sorted(table.index[table.notna().any(axis=1)])
    labels = result["label"]
    assert len(labels) == len(result["country"]) and labels[0] == 0
    assert set(labels) == set(range(max(labels) + 1)) and len(set(labels)) <= 4


def test_cluster_coords_place_each_country_and_group_its_cluster(client):
    result = cluster(client).json()
    coords = np.array(result["coords"])
    labels = np.array(result["label"])
    assert coords.shape == (len(result["country"]), 2) and np.isfinite(coords).all()
    assert abs(coords.mean(axis=0)).max() < 1e-4 and coords[:, 0].var() >= coords[:, 1].var()
    spread = ((coords - coords.mean(axis=0)) ** 2).sum()
    within = sum(((coords[labels == c] - coords[labels == c].mean(axis=0)) ** 2).sum() for c in set(labels))
    assert within < spread


def test_cluster_k_is_capped_and_k_one_is_one_cluster(client):
    countries = cluster(client).json()["country"]
    capped = cluster(client, k=1000).json()
    assert capped["country"] == countries and 1 < len(set(capped["label"])) <= len(countries)
    assert set(cluster(client, k=1).json()["label"]) == {0}


@pytest.mark.parametrize("k", [0, -3])
def test_cluster_k_below_one_is_a_422(client, k):
    response = cluster(client, k=k)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "body.k"


def test_cluster_rejects_unknown_selection(client):
    response = cluster(client, category="nope")
    assert response.status_code == 422 and CATEGORY in response.json()["detail"]


def test_params_lists_correlate_with_its_listing_endpoints(client):
    entry = next(e for e in client.get("/params").json() if e["model"] == "CountryCorrelation")
    inputs = {item["parameter"]: item for item in entry["inputs"]}
    assert set(inputs) == {"dataset", "category", "year", "country"}
    assert inputs["category"]["req_endpoint"]["endpoint"] == "/categories"
    assert [i["parameter"] for i in inputs["year"]["req_endpoint"]["inputs"]] == ["dataset", "category"]
    assert [i["parameter"] for i in inputs["country"]["req_endpoint"]["inputs"]] == [
        "dataset",
        "category",
        "year",
    ]


def test_services_run_without_the_app_and_report_progress(dataset):
    from models.CountryCorrelation import service
    from models.CountryCorrelation.schemas import CorrelateRequest, CountryClusterRequest

    stages = []

    def record(stage: str, fraction: float) -> None:
        stages.append((stage, fraction))

    correlation = service.correlate(CorrelateRequest(**selection(country=COUNTRY)), dataset, progress=record)
    clusters = service.cluster(CountryClusterRequest(**selection(k=3)), dataset, progress=record)
    assert correlation.country_corr["index"] and len(set(clusters.label)) <= 3
    assert [s for s, _ in stages].count("done") == 2
