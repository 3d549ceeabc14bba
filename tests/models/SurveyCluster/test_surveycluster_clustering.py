"""SurveyCluster over HTTP with the shipped Malawi water survey: every factor, input forms, errors."""

import numpy as np
import pytest

from common.settings import DEFAULT_DATASET_PATH
from models.SurveyCluster.clustering import elbow
from models.SurveyCluster.survey import MAX_ROWS
from shared_dataloader import load_survey_sample

EXPECTED_ALGORITHM = {
    "Location": "k-modes",
    "Household profile": "k-modes",
    "Satisfaction": "k-modes",
    "Household size": "k-means",
    "Water access": "k-prototypes",
    "Tariffs": "k-prototypes",
}


@pytest.fixture(scope="module")
def survey():
    return load_survey_sample(DEFAULT_DATASET_PATH)


def columns_of(rows: list[dict]) -> dict[str, list]:
    return {key: [row.get(key) for row in rows] for key in rows[0]}


def request(survey, factor: str = "Water access", max_k: int = 5, **overrides) -> dict:
    return {"data": survey.data, "metadata": survey.metadata, "factor": factor, "max_k": max_k, **overrides}


def post(client, payload: dict):
    return client.post("/survey/clustering", json=payload)


def second_difference_elbow(costs: list[float]) -> int:
    gaps = [costs[i - 1] - 2 * costs[i] + costs[i + 1] for i in range(1, len(costs) - 1)]
    return gaps.index(max(gaps)) + 2


@pytest.mark.parametrize("factor", sorted(EXPECTED_ALGORITHM))
def test_every_shipped_factor_clusters(client, survey, factor):
    response = post(client, request(survey, factor))
    assert response.status_code == 200, response.json()
    result = response.json()
    assert result["algorithm"] == EXPECTED_ALGORITHM[factor]
    assert len(result["cluster_label"]) == len(survey.data) and result["rows"] == list(
        range(len(survey.data))
    )
    assert len(result["costs"]) == 5 and 1 <= result["k"] <= 5
    assert result["k"] == second_difference_elbow(result["costs"])
    labels = result["cluster_label"]
    assert set(labels) == set(range(result["k"])) and labels[0] == 0


def test_columns_rows_and_keyed_columns_give_the_same_answer(client, survey):
    by_rows = post(client, request(survey, "Tariffs")).json()
    by_columns = post(
        client, request(survey, "Tariffs", data=columns_of(survey.data), metadata=columns_of(survey.metadata))
    ).json()
    keyed = {
        key: {str(i): value for i, value in enumerate(values)}
        for key, values in columns_of(survey.data).items()
    }
    assert by_rows == by_columns == post(client, request(survey, "Tariffs", data=keyed)).json()
    assert post(client, request(survey, "Tariffs")).json() == by_rows, "deterministic"


def test_rows_without_gps_are_dropped(client, survey):
    rows = [dict(row) for row in survey.data[:60]]
    for position in (0, 7, 30):
        rows[position]["latitude"] = None
    rows[12]["longitude"] = None
    result = post(client, request(survey, "Satisfaction", data=rows)).json()
    assert result["rows"] == [i for i in range(60) if i not in (0, 7, 12, 30)]
    assert len(result["cluster_label"]) == 56


def test_missing_answers_do_not_break_clustering(client, survey):
    rows = [dict(row) for row in survey.data[:80]]
    for row in rows[::3]:
        row["main_water_source"] = None
        row["water_collection_time_minutes"] = None
    result = post(client, request(survey, "Water access", data=rows, max_k=4)).json()
    assert len(result["cluster_label"]) == 80 and result["algorithm"] == "k-prototypes"


def test_max_k_one_and_tiny_surveys_give_one_cluster(client, survey):
    assert set(post(client, request(survey, "Location", max_k=1)).json()["cluster_label"]) == {0}
    single = post(client, request(survey, "Household size", data=survey.data[:1])).json()
    assert single["cluster_label"] == [0] and single["k"] == 1


def test_swagger_example_is_real_survey_data_and_clusters(client, survey):
    example = client.get("/openapi.json").json()["components"]["schemas"]["SurveyClusterRequest"]["examples"][
        0
    ]
    rows = survey.data[30:42]
    for question, answers in example["data"].items():
        assert answers == [row[question] for row in rows]
    for factor in ("Water access", "Household size"):
        response = post(client, {**example, "factor": factor})
        assert response.status_code == 200 and len(response.json()["cluster_label"]) == len(rows)


def test_params_describe_the_request(client):
    entry = next(e for e in client.get("/params").json() if e["model"] == "SurveyCluster")
    types = {item["parameter"]: item["type"] for item in entry["inputs"]}
    assert types == {"data": "object", "metadata": "object", "factor": "string", "max_k": "integer"}


def unclusterable_metadata(survey) -> list[dict]:
    return [*survey.metadata, {"Question Name": "longitude", "Type": "GPS longitude", "Factor": "Place"}]


@pytest.mark.parametrize(
    ("change", "field", "hint"),
    [
        (lambda s: {"factor": "Income"}, "body.factor", "Water access"),
        (lambda s: {"max_k": 0}, "body.max_k", "greater than or equal to 1"),
        (lambda s: {"max_k": 21}, "body.max_k", "less than or equal to 20"),
        (
            lambda s: {
                "metadata": [*s.metadata, {"Question Name": "age", "Type": "continuous", "Factor": "X"}]
            },
            "body.metadata",
            "not in the data: age",
        ),
        (
            lambda s: {"metadata": [{**s.metadata[0], "Type": "ordinal"}, *s.metadata[1:]]},
            "body.metadata",
            "GPS latitude",
        ),
        (
            lambda s: {"metadata": [{"Question Name": "district", "Type": "categorical"}]},
            "body.metadata",
            "Factor",
        ),
        (
            lambda s: {"data": {"district": ["a", "b"], "longitude": [1.0], "latitude": [2.0, 3.0]}},
            "body.data",
            "different lengths",
        ),
        (
            lambda s: {"metadata": unclusterable_metadata(s), "factor": "Place"},
            "body.factor",
            "no categorical",
        ),
        (
            lambda s: {
                "data": [{**row, "household_size": "many"} for row in s.data[:5]],
                "factor": "Household size",
            },
            "body.data",
            "non-numeric",
        ),
        (lambda s: {"data": [{**row, "latitude": None} for row in s.data[:5]]}, "body.data", "GPS"),
        (lambda s: {"data": []}, "body.data", "no rows"),
        (lambda s: {"data": "district"}, "body.data", None),
    ],
)
def test_bad_input_is_a_422_saying_what_is_valid(client, survey, change, field, hint):
    response = post(client, request(survey, **change(survey)))
    assert response.status_code == 422, response.json()
    body = response.json()
    assert body["errors"][0]["field"].startswith(field)
    assert hint is None or hint in body["detail"]


def test_too_many_rows_are_refused(client):
    rows = [{"q": "a", "longitude": 1.0, "latitude": 1.0}] * (MAX_ROWS + 1)
    metadata = [{"Question Name": "q", "Type": "categorical", "Factor": "F"}]
    response = post(client, {"data": rows, "metadata": metadata, "factor": "F", "max_k": 2})
    assert response.status_code == 422 and f"at most {MAX_ROWS}" in response.json()["detail"]


@pytest.mark.parametrize(
    ("costs", "k"),
    [
        ([10.0], 1),
        ([10.0, 4.0], 2),
        ([10.0, 10.0], 1),
        ([100.0, 50.0, 40.0, 35.0], 2),
        ([100.0, 90.0, 30.0, 25.0, 24.0], 3),
        ([9.0, 6.0, 3.0, 0.0], 2),
    ],
)
def test_elbow_is_the_largest_second_difference(costs, k):
    assert elbow(costs) == k
    assert elbow(list(np.asarray(costs) * 7)) == k


def test_service_runs_without_the_app_and_reports_progress(survey):
    from models.SurveyCluster import service
    from models.SurveyCluster.schemas import SurveyClusterRequest

    stages = []
    result = service.clustering(
        SurveyClusterRequest(**request(survey, "Location", max_k=3)),
        None,
        progress=lambda stage, fraction: stages.append((stage, fraction)),
    )
    fractions = [fraction for _, fraction in stages]
    assert len(result.cluster_label) == len(survey.data) and fractions == sorted(fractions)
    assert stages[-1] == ("done", 1.0) and any("k=3" in stage for stage, _ in stages)
