"""Sample model: how SIDS compare with other countries on one indicator (the worked example)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api_app.run_model import run_model
from common.body import OffLoopBodyRoute
from common.constants import MAIN_ENDPOINT_TAG
from common.errors import InvalidInput
from common.resources import use_resource
from models.sampleapi import service
from models.sampleapi.schemas import SummaryRequest, SummaryResponse
from shared_dataloader import IndicatorDataset

REQUIRED_DATA = ("indicators",)
Dataset = Annotated[IndicatorDataset, Depends(use_resource("indicators"))]

router = APIRouter(prefix="/sampleapi", tags=["Sample Model"], route_class=OffLoopBodyRoute)


@router.post("/indicators", response_model=dict[str, str], summary="Indicators of one dataset ({code: name})")
def indicators(
    dataset: Dataset,
    dataset_code: Annotated[
        str, Query(alias="dataset", title="Dataset code", examples=["wdi"], max_length=50)
    ],
) -> dict[str, str]:
    if dataset_code not in dataset.datasets:
        raise InvalidInput(
            f"Unknown dataset {dataset_code!r}; valid: {', '.join(sorted(dataset.datasets))}",
            field="query.dataset",
        )
    return dataset.indicators_of(dataset_code)["name"].to_dict()


@router.post(
    "/predict",
    response_model=SummaryResponse,
    openapi_extra={MAIN_ENDPOINT_TAG: True},
    summary="Compare SIDS with other countries on one indicator",
)
async def predict(request: Request, body: SummaryRequest, dataset: Dataset) -> SummaryResponse:
    """Accepts `Prefer: respond-async` / `wait=N` (202 + `Location: /jobs/{id}`) and `If-None-Match`."""
    return await run_model(request, service.summarize, body, data="indicators")
