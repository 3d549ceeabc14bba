"""CountryCorrelation: how SIDS resemble each other on one category of indicators (SPEC §5.2)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api_app.run_model import run_model
from common.body import OffLoopBodyRoute
from common.constants import MAIN_ENDPOINT_TAG
from common.model_package import IndicatorsDep
from models.CountryCorrelation import correlation, service
from models.CountryCorrelation.schemas import (
    CorrelateRequest,
    CorrelateResponse,
    CountryClusterRequest,
    CountryClusterResponse,
    Year,
)

REQUIRED_RESOURCES = ("indicators",)
DatasetCode = Annotated[str, Query(alias="dataset", title="Dataset code", examples=["wdi"], max_length=50)]
Category = Annotated[str, Query(title="Indicator category", examples=["Financial Sector"], max_length=200)]
YearQuery = Annotated[Year, Query(title="Year", examples=["2014"], max_length=4)]


def COMPUTE_WARMUP(resources: dict[str, object]) -> None:
    """Import the model's libraries where the compute processes are forked from (the API process,
    which does not compute, never imports them)."""
    correlation.load_libraries()


router = APIRouter(prefix="/correlation", tags=["Country Correlation Model"], route_class=OffLoopBodyRoute)


@router.get(
    "/datasets", response_model=dict[str, str], summary="Datasets with SIDS data to correlate ({code: name})"
)
def datasets(indicators: IndicatorsDep) -> dict[str, str]:
    return service.datasets(indicators)


@router.get("/categories", response_model=list[str], summary="Categories of a dataset with SIDS data")
def categories(indicators: IndicatorsDep, dataset_code: DatasetCode) -> list[str]:
    return service.categories(indicators, dataset_code)


@router.get("/years", response_model=list[str], summary="Years with SIDS data for a dataset and category")
def years(indicators: IndicatorsDep, dataset_code: DatasetCode, category: Category) -> list[str]:
    return service.years(indicators, dataset_code, category)


@router.get(
    "/countries",
    response_model=list[str],
    summary="SIDS with enough values of the category in that year to be correlated",
)
def countries(
    indicators: IndicatorsDep, dataset_code: DatasetCode, category: Category, year: YearQuery
) -> list[str]:
    return service.countries(indicators, dataset_code, category, year)


@router.post(
    "/correlate",
    response_model=CorrelateResponse,
    openapi_extra={MAIN_ENDPOINT_TAG: True},
    summary="Correlation of one SIDS with every other SIDS",
)
async def correlate(request: Request, body: CorrelateRequest, indicators: IndicatorsDep) -> Response:
    return await run_model(request, service.correlate, body, resource="indicators")


@router.post(
    "/cluster", response_model=CountryClusterResponse, summary="k-means clusters of SIDS (EM gap filling)"
)
async def cluster(request: Request, body: CountryClusterRequest, indicators: IndicatorsDep) -> Response:
    return await run_model(request, service.cluster, body, resource="indicators")
