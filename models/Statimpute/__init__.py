"""Statimpute: fill a SIDS country's missing years of one indicator by interpolation (SPEC §5.3)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api_app.run_model import run_model
from common.body import OffLoopBodyRoute
from common.constants import MAIN_ENDPOINT_TAG
from common.model_package import IndicatorsDep
from models.Statimpute import backtest, service
from models.Statimpute.schemas import BacktestRequest, BacktestResponse, ImputeRequest, ImputeResponse

REQUIRED_RESOURCES = ("indicators",)


def COMPUTE_WARMUP(resources: dict[str, object]) -> None:
    """Import the model's libraries where the compute processes are forked from (the API process,
    which does not compute, never imports them)."""
    backtest.load_libraries()


router = APIRouter(prefix="/statimpute", tags=["Functional Imputation"], route_class=OffLoopBodyRoute)


@router.get(
    "/targets",
    response_model=dict[str, str],
    summary="Indicators with SIDS data ({code: name}), optionally of one dataset",
)
def targets(
    indicators: IndicatorsDep,
    dataset_code: Annotated[
        str | None, Query(alias="dataset", title="Dataset code", examples=["wdi"], max_length=50)
    ] = None,
) -> dict[str, str]:
    return service.targets(indicators, dataset_code)


@router.get("/countries", response_model=list[str], summary="SIDS that have data for the target")
def countries(
    indicators: IndicatorsDep,
    target: Annotated[str, Query(title="Indicator code", examples=["wdi-EG.ELC.ACCS.ZS"], max_length=200)],
) -> list[str]:
    return service.countries(indicators, target)


@router.post(
    "/impute",
    response_model=ImputeResponse,
    openapi_extra={MAIN_ENDPOINT_TAG: True},
    summary="Interpolate the missing years of a country's indicator series",
)
async def impute(request: Request, body: ImputeRequest, indicators: IndicatorsDep) -> Response:
    return await run_model(request, service.impute, body, resource="indicators")


@router.post(
    "/backtest",
    response_model=BacktestResponse,
    summary="Hide the observed years fold by fold, re-interpolate them, and score the method "
    "and two baselines",
)
async def backtest_endpoint(request: Request, body: BacktestRequest, indicators: IndicatorsDep) -> Response:
    return await run_model(
        request, service.backtest, body, resource="indicators", estimate=service.backtest_seconds
    )
