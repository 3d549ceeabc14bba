"""Sample model: how SIDS compare with other countries on one indicator (the worked example)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from common.constants import MAIN_ENDPOINT_TAG
from common.errors import InvalidInput
from common.resources import use_resource
from models.sampleapi.schemas import SummaryRequest, SummaryResponse
from models.sampleapi.summary import compare_sids, latest_year_with_sids_data
from shared_dataloader import IndicatorDataset

REQUIRED_DATA = ("indicators",)
Dataset = Annotated[IndicatorDataset, Depends(use_resource("indicators"))]

router = APIRouter(prefix="/sampleapi", tags=["Sample Model"])


@router.post("/indicators", response_model=dict[str, str],
             summary="Indicators of one dataset ({code: name})")
def indicators(dataset: Dataset,
               dataset_code: Annotated[str, Query(alias="dataset", title="Dataset code",
                                                  examples=["wdi"], max_length=50)]) -> dict[str, str]:
    if dataset_code not in dataset.datasets:
        raise InvalidInput(f"Unknown dataset {dataset_code!r}; valid: {', '.join(sorted(dataset.datasets))}",
                           field="query.dataset")
    return dataset.indicators_of(dataset_code)["name"].to_dict()


@router.post("/predict", response_model=SummaryResponse, openapi_extra={MAIN_ENDPOINT_TAG: True},
             summary="Compare SIDS with other countries on one indicator")
def predict(body: SummaryRequest, dataset: Dataset) -> SummaryResponse:
    if body.indicator not in dataset.meta.index:
        raise InvalidInput(f"Unknown indicator {body.indicator!r}; list them with "
                           "POST /sampleapi/indicators?dataset=<code>", field="body.indicator")
    table = dataset.indicator_table(body.indicator)
    year = body.year or latest_year_with_sids_data(table)
    if year not in table.columns:
        raise InvalidInput(f"Unknown year {body.year!r}; valid: {table.columns[0]}–{table.columns[-1]}",
                           field="body.year")
    return SummaryResponse(indicator=body.indicator, name=dataset.meta.at[body.indicator, "name"],
                           year=year, **compare_sids(table, year))
