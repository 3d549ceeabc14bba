"""Open Inference Protocol (KServe V2) for every model in the model store, so KServe, MLServer and
Triton clients work unchanged; the endpoints are `models/_artifacts/v2_router.py`."""

from common.model_package import Resources
from models._artifacts.router import RESOURCE, compute_warm_up
from models._artifacts.serving import registry_for
from models._artifacts.v2_router import router

REQUIRED_RESOURCES = ("model_store",)


def WARMUP(resources: Resources) -> None:
    """Build every stored model's predictors (a pipeline that compute processes score is deserialized
    there), after readiness."""
    registry = registry_for(resources[RESOURCE])
    for name in registry.names():
        model = registry.model(name)
        if model is not None:
            model.prepare()


COMPUTE_WARMUP = compute_warm_up()
"""Run where the compute processes are forked from: the pipelines they score for the API process."""

__all__ = ["COMPUTE_WARMUP", "REQUIRED_RESOURCES", "WARMUP", "router"]
