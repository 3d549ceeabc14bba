"""Sample model: how SIDS compare with other countries on one indicator (the worked example)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api_app.run_model import run_model
from common.body import OffLoopBodyRoute
from common.constants import MAIN_ENDPOINT_TAG
from common.errors import InvalidInput
from common.model_package import IndicatorsDep
from models.sampleapi import service
from models.sampleapi.schemas import SummaryRequest, SummaryResponse

REQUIRED_RESOURCES = ("indicators",)

router = APIRouter(prefix="/sampleapi", tags=["Sample Model"], route_class=OffLoopBodyRoute)


@router.post("/indicators", response_model=dict[str, str], summary="Indicators of one dataset ({code: name})")
def indicators(
    indicators: IndicatorsDep,
    dataset_code: Annotated[
        str, Query(alias="dataset", title="Dataset code", examples=["wdi"], max_length=50)
    ],
) -> dict[str, str]:
    if dataset_code not in indicators.datasets:
        raise InvalidInput(
            f"Unknown dataset {dataset_code!r}; valid: {', '.join(sorted(indicators.datasets))}",
            field="query.dataset",
        )
    return indicators.indicators_of(dataset_code)["name"].to_dict()


@router.post(
    "/predict",
    response_model=SummaryResponse,
    openapi_extra={MAIN_ENDPOINT_TAG: True},
    summary="Compare SIDS with other countries on one indicator",
)
async def predict(request: Request, body: SummaryRequest, indicators: IndicatorsDep) -> Response:
    """Accepts `Prefer: respond-async` / `wait=N` (202 + `Location: /jobs/{id}`) and `If-None-Match`."""
    return await run_model(request, service.summarize, body, resource="indicators")
