"""The main computation of SurveyCluster, runnable without the app (the data come in the request)."""

from common.errors import InvalidInput
from common.progress import Progress
from models.SurveyCluster.clustering import cluster_rows, expected_seconds
from models.SurveyCluster.schemas import SurveyClusterRequest, SurveyClusterResponse
from models.SurveyCluster.survey import SurveyError, build_features


def _features(body: SurveyClusterRequest):
    try:
        return build_features(body.data, body.metadata, body.factor)
    except SurveyError as exc:
        raise InvalidInput(str(exc), field=f"body.{exc.field}") from exc


def estimate_seconds(body: SurveyClusterRequest, resource: None = None) -> float:
    """Expected duration of `clustering` (checked before it runs; invalid input is refused here)."""
    features = _features(body)
    return expected_seconds(
        len(features.rows), features.categorical.shape[1], features.continuous.shape[1], body.max_k
    )


def clustering(
    body: SurveyClusterRequest, resource: None = None, progress: Progress | None = None
) -> SurveyClusterResponse:
    """Cluster the rows with GPS coordinates on the questions of `body.factor`."""
    if progress:
        progress("validating", 0.0)
    features = _features(body)
    result = cluster_rows(features.categorical, features.continuous, body.max_k, progress)
    if progress:
        progress("done", 1.0)
    return SurveyClusterResponse(
        cluster_label=result.labels,
        rows=features.rows,
        k=result.k,
        algorithm=result.algorithm,
        costs=result.costs,
    )
