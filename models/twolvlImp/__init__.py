"""twolvlImp: fill a SIDS country's missing indicator value from the other indicators (SPEC §5.1)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api_app.cached_route import CachedAnswerRoute
from api_app.run_model import run_model
from common.constants import MAIN_ENDPOINT_TAG
from common.model_package import IndicatorsDep, Resources
from models.twolvlImp import catalog, service
from models.twolvlImp.preprocess import PREDICTOR_MISSING_MAX, TARGET_MISSING_MAX
from models.twolvlImp.schemas import (
    BacktestRequest,
    BacktestResponse,
    Dimension,
    Estimate,
    PredictorsRequest,
    PredictResponse,
    Scheme,
    TrainRequest,
)

REQUIRED_RESOURCES = ("indicators",)


def WARMUP(resources: Resources) -> None:
    """Build the catalogue of supported years the endpoints answer from (and validate with)."""
    catalog.supported_years(resources["indicators"])


def COMPUTE_WARMUP(resources: Resources) -> None:
    """Import the model's libraries, find their thread pools and build the catalogue where the
    compute processes are forked from, so the first request of a freshly started server pays for
    none of them."""
    service.thread_pools()
    catalog.supported_years(resources["indicators"])


Year = Annotated[str, Query(title="The year under consideration", max_length=4, examples=["2001"])]
DatasetCode = Annotated[str, Query(alias="dataset", title="Dataset", max_length=50, examples=["wdi"])]
Target = Annotated[str, Query(title="Target", max_length=200, examples=["wdi-EG.ELC.ACCS.ZS"])]

router = APIRouter(prefix="/twolvlImp", tags=["Two Level Imputation"], route_class=CachedAnswerRoute)


@router.get("/target_years", response_model=list[str], summary="Supported years")
def target_years(indicators: IndicatorsDep) -> list[str]:
    return list(catalog.supported_years(indicators))


@router.get(
    "/target_sample_size",
    response_model=int,
    summary=f"Fewest countries with data a target needs (missing < {TARGET_MISSING_MAX:g} %)",
)
def target_sample_size(indicators: IndicatorsDep) -> int:
    return catalog.sample_size(indicators, TARGET_MISSING_MAX)


@router.get(
    "/predictor_sample_size",
    response_model=int,
    summary=f"Fewest countries with data a predictor needs (missing < {PREDICTOR_MISSING_MAX:g} %)",
)
def predictor_sample_size(indicators: IndicatorsDep) -> int:
    return catalog.sample_size(indicators, PREDICTOR_MISSING_MAX)


@router.get(
    "/datasets",
    response_model=dict[str, str],
    summary="Datasets with at least one valid target in the year ({code: name})",
)
def datasets(indicators: IndicatorsDep, target_year: Year) -> dict[str, str]:
    return catalog.check_year(indicators, target_year, "query.target_year").datasets


@router.get(
    "/targets",
    response_model=dict[str, str],
    summary="Valid targets of a dataset in the year ({indicator code: name})",
)
def targets(indicators: IndicatorsDep, target_year: Year, dataset_code: DatasetCode) -> dict[str, str]:
    year = catalog.check_year(indicators, target_year, "query.target_year")
    catalog.check_dataset(year, dataset_code, "query.dataset")
    codes = sorted(code for code, owner in year.targets.items() if owner == dataset_code)
    return indicators.meta.loc[codes, "name"].to_dict()


@router.get(
    "/dimensions",
    response_model=list[Dimension],
    summary="Dimension of the target and of its same-name variants in the dataset",
)
def dimensions(
    indicators: IndicatorsDep, target: Target, target_year: Year, dataset_code: DatasetCode
) -> list[Dimension]:
    catalog.check_target_request(indicators, target_year, dataset_code, target, prefix="query")
    year = catalog.year_catalog(indicators, target_year)
    meta = indicators.meta
    name = meta.at[target, "name"]
    variants = sorted(
        code
        for code, owner in year.targets.items()
        if owner == dataset_code and meta.at[code, "name"] == name
    )
    return [Dimension(label=meta.at[code, "dimension"], value=code) for code in variants]


@router.post(
    "/predictors",
    response_model=dict[str, str] | list[int],
    summary="MANUAL: valid predictors {code: 'name-dimension'}; AFS/PCA: allowed counts",
)
def predictors(body: PredictorsRequest, indicators: IndicatorsDep) -> dict[str, str] | list[int]:
    valid = catalog.check_target_request(indicators, body.target_year, body.dataset, body.target)
    if body.scheme is not Scheme.MANUAL:
        return catalog.allowed_counts(valid)
    meta = indicators.meta.loc[list(valid)]
    return {code: f"{row.name}-{row.dimension}" for code, row in zip(meta.index, meta.itertuples())}


@router.post(
    "/estimate",
    response_model=Estimate,
    summary="Expected duration of a predict request, from this deployment's measured runs",
)
def estimate(body: TrainRequest, indicators: IndicatorsDep) -> Estimate:
    return service.estimate(body, indicators)


@router.post(
    "/predict",
    response_model=PredictResponse,
    openapi_extra={MAIN_ENDPOINT_TAG: True},
    summary="Impute the target's missing SIDS values of one year",
)
async def predict(request: Request, body: TrainRequest, indicators: IndicatorsDep) -> Response:
    return await run_model(
        request, service.predict, body, resource="indicators", estimate=service.predict_seconds
    )


@router.post(
    "/backtest",
    response_model=BacktestResponse,
    summary="Hide the observed SIDS values fold by fold, re-impute them, and score the "
    "model and two baselines (long: use `Prefer: respond-async`)",
)
async def backtest_endpoint(request: Request, body: BacktestRequest, indicators: IndicatorsDep) -> Response:
    return await run_model(
        request, service.backtest, body, resource="indicators", estimate=service.backtest_seconds
    )
