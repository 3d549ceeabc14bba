"""/params: the exact shape the dashboard reads, for the sample model and a form with enums and
required_if conditions."""

import textwrap

import pytest

from helpers.app import models_package, running_app

FORM_MODEL = textwrap.dedent("""
    from typing import Annotated
    from fastapi import APIRouter, Query
    from pydantic import Field
    from common.constants import MAIN_ENDPOINT_TAG
    from common.requests import ModelRequest, NamedEnum, lists_values, required_if

    class Scheme(NamedEnum):
        AFS = "Automatic Feature Selection"
        PCA = "Principal Component Analysis"
        MANUAL = "Manual Selection"

    class PredictorsRequest(ModelRequest):
        target_year: str = Field(title="The year under consideration",
                                 json_schema_extra=lists_values("/target_years"))
        scheme: Scheme = Field(title="Selection scheme")

    class FormRequest(ModelRequest):
        target_year: str = Field(title="The year under consideration",
                                 json_schema_extra=lists_values("/target_years"))
        scheme: Scheme = Field(title="Selection scheme", description="How predictors are chosen")
        manual_predictors: list[str] | None = Field(
            None, title="List of predictors (for Manual)",
            json_schema_extra=required_if(scheme=[Scheme.MANUAL]) | lists_values("/predictors", "POST"))
        number_predictor: int | None = Field(
            None, title="Number of predictors", json_schema_extra=required_if(scheme=["AFS", "PCA"]))
        estimators: int = Field(10, title="Trees", ge=1, le=500)

    router = APIRouter(prefix="/form", tags=["Form Model"])

    @router.get("/target_years")
    def target_years() -> list[str]:
        return ["2000", "2001"]

    @router.get("/dimensions")
    def dimensions(target: Annotated[str, Query(title="Target indicator")],
                   limit: Annotated[int | None, Query(title="Limit")] = None) -> list[str]:
        return []

    @router.post("/predictors")
    def predictors(body: PredictorsRequest) -> dict:
        return {}

    @router.post("/predict", openapi_extra={MAIN_ENDPOINT_TAG: True})
    def predict(body: FormRequest) -> dict:
        return body.model_dump(mode="json")
""")


@pytest.fixture
def form_models(tmp_path, monkeypatch):
    return models_package(
        tmp_path,
        monkeypatch,
        "form_models",
        {
            "form": FORM_MODEL,
            "nomain": "from fastapi import APIRouter\nrouter = APIRouter(prefix='/nomain', tags=['Helper'])\n",
        },
    )


def test_sample_model_params(client):
    entry = next(e for e in client.get("/params").json() if e["model"] == "sampleapi")
    assert entry["label"] == "Sample Model"
    indicator, year = entry["inputs"]
    assert indicator == {
        "parameter": "indicator",
        "label": "Indicator",
        "description": "Indicator code, e.g. wdi-EG.ELC.ACCS.ZS.",
        "type": "string",
        "req_endpoint": {
            "endpoint": "/indicators",
            "method": "POST",
            "inputs": [
                {
                    "parameter": "dataset",
                    "label": "Dataset code",
                    "type": "string",
                    "conditions": [{"required": True}],
                }
            ],
        },
        "conditions": [{"required": True}],
    }
    assert year["parameter"] == "year" and "conditions" not in year


def test_every_mounted_model_has_an_entry(client):
    models = [e["model"] for e in client.get("/params").json()]
    assert models == client.get("/").json()["models"]


def test_params_of_a_form_with_enums_and_required_if(form_models):
    with running_app(models_package=form_models) as client:
        entries = {e["model"]: e for e in client.get("/params").json()}
        assert entries["nomain"] == {"model": "nomain", "label": "Helper"}
        form = entries["form"]
        assert form["label"] == "Form Model"
        inputs = {i["parameter"]: i for i in form["inputs"]}
        assert list(inputs) == [
            "target_year",
            "scheme",
            "manual_predictors",
            "number_predictor",
            "estimators",
        ]
        assert inputs["target_year"] == {
            "parameter": "target_year",
            "label": "The year under consideration",
            "type": "string",
            "req_endpoint": {"endpoint": "/target_years", "method": "GET", "inputs": []},
            "conditions": [{"required": True}],
        }
        assert inputs["scheme"] == {
            "parameter": "scheme",
            "label": "Selection scheme",
            "description": "How predictors are chosen",
            "type": "enum",
            "values": {
                "AFS": "Automatic Feature Selection",
                "PCA": "Principal Component Analysis",
                "MANUAL": "Manual Selection",
            },
            "conditions": [{"required": True}],
        }
        manual = inputs["manual_predictors"]
        assert manual["type"] == "array"
        assert manual["conditions"] == [{"required": [{"scheme": "MANUAL"}]}]
        assert manual["req_endpoint"]["endpoint"] == "/predictors"
        assert manual["req_endpoint"]["method"] == "POST"
        nested = {i["parameter"]: i for i in manual["req_endpoint"]["inputs"]}
        assert nested["target_year"]["req_endpoint"]["endpoint"] == "/target_years"
        assert nested["scheme"]["type"] == "enum"
        assert inputs["number_predictor"]["conditions"] == [
            {"required": [{"scheme": "AFS"}, {"scheme": "PCA"}]}
        ]
        assert inputs["estimators"]["type"] == "integer"
        assert inputs["estimators"]["default"] == 10
        assert "conditions" not in inputs["estimators"]

        refused = client.post("/form/predict", json={"target_year": "2000", "scheme": "PCA"})
        assert refused.status_code == 422
        assert "number_predictor is required when scheme is PCA" in refused.json()["detail"]
