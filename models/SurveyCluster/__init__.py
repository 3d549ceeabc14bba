"""SurveyCluster: group survey answers by one factor's questions (SPEC §5.4); data come in the request."""

from fastapi import APIRouter

from common.compute import run_cpu
from common.constants import MAIN_ENDPOINT_TAG
from models.SurveyCluster import service
from models.SurveyCluster.schemas import ClusterRequest, ClusterResponse

router = APIRouter(prefix="/survey", tags=["Survey Analysis"])


@router.post("/clustering", response_model=ClusterResponse, openapi_extra={MAIN_ENDPOINT_TAG: True},
             summary="Cluster survey rows on the questions of one factor (elbow choice of k)")
async def clustering(body: ClusterRequest) -> ClusterResponse:
    return await run_cpu(service.clustering, body, None)
