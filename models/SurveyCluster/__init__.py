"""SurveyCluster: group survey answers by one factor's questions (SPEC §5.4); data come in the request."""

from fastapi import APIRouter, Request, Response

from api_app.run_model import run_model
from common.body import OffLoopBodyRoute
from common.constants import MAIN_ENDPOINT_TAG
from models.SurveyCluster import service
from models.SurveyCluster.clustering import load_libraries
from models.SurveyCluster.schemas import SurveyClusterRequest, SurveyClusterResponse


def COMPUTE_WARMUP(resources: dict[str, object]) -> None:
    """Import the model's libraries where the compute processes are forked from (the API process,
    which does not compute, never imports them)."""
    load_libraries()


router = APIRouter(prefix="/survey", tags=["Survey Analysis"], route_class=OffLoopBodyRoute)


@router.post(
    "/clustering",
    response_model=SurveyClusterResponse,
    openapi_extra={MAIN_ENDPOINT_TAG: True},
    summary="Cluster survey rows on the questions of one factor (elbow choice of k)",
)
async def clustering(request: Request, body: SurveyClusterRequest) -> Response:
    return await run_model(request, service.clustering, body, estimate=service.estimate_seconds)
