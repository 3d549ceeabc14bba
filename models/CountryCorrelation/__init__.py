"""CountryCorrelation: how SIDS resemble each other on one category of indicators (SPEC §5.2)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from common.body import OffLoopBodyRoute
from common.compute import run_cpu
from common.constants import MAIN_ENDPOINT_TAG
from common.jobs import run_model
from common.resources import use_resource
from models.CountryCorrelation import correlation, service
from models.CountryCorrelation.schemas import (
    CorrelateRequest,
    CorrelateResponse,
    CountryClusterRequest,
    CountryClusterResponse,
    Year,
)
from shared_dataloader import IndicatorDataset

REQUIRED_DATA = ("indicators",)
Dataset = Annotated[IndicatorDataset, Depends(use_resource("indicators"))]
DatasetCode = Annotated[str, Query(alias="dataset", title="Dataset code", examples=["wdi"], max_length=50)]
Category = Annotated[str, Query(title="Indicator category", examples=["Financial Sector"], max_length=200)]
YearQuery = Annotated[Year, Query(title="Year", examples=["2014"], max_length=4)]


def WARMUP(data: dict) -> None:
    """Import the model's libraries before it reports ready (importing the app leaves them out)."""
    correlation.load_libraries()


router = APIRouter(prefix="/correlation", tags=["Country Correlation Model"], route_class=OffLoopBodyRoute)


@router.get(
    "/datasets", response_model=dict[str, str], summary="Datasets with SIDS data to correlate ({code: name})"
)
def datasets(dataset: Dataset) -> dict[str, str]:
    return service.datasets(dataset)


@router.get("/categories", response_model=list[str], summary="Categories of a dataset with SIDS data")
def categories(dataset: Dataset, dataset_code: DatasetCode) -> list[str]:
    return service.categories(dataset, dataset_code)


@router.get("/years", response_model=list[str], summary="Years with SIDS data for a dataset and category")
def years(dataset: Dataset, dataset_code: DatasetCode, category: Category) -> list[str]:
    return service.years(dataset, dataset_code, category)


@router.get(
    "/countries",
    response_model=list[str],
    summary="SIDS with enough values of the category in that year to be correlated",
)
def countries(dataset: Dataset, dataset_code: DatasetCode, category: Category, year: YearQuery) -> list[str]:
    return service.countries(dataset, dataset_code, category, year)


@router.post(
    "/correlate",
    response_model=CorrelateResponse,
    openapi_extra={MAIN_ENDPOINT_TAG: True},
    summary="Correlation of one SIDS with every other SIDS",
)
async def correlate(request: Request, body: CorrelateRequest, dataset: Dataset) -> CorrelateResponse:
    return await run_model(request, service.correlate, body, data="indicators")


@router.post(
    "/cluster", response_model=CountryClusterResponse, summary="k-means clusters of SIDS (EM gap filling)"
)
async def cluster(body: CountryClusterRequest, dataset: Dataset) -> CountryClusterResponse:
    return await run_cpu(service.cluster, body, dataset)
