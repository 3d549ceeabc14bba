"""Open Inference Protocol (KServe V2) for every model in the model store, so KServe, MLServer and
Triton clients work unchanged; the endpoints are `models/_artifacts/v2_router.py`."""

from models._artifacts.v2_router import router

REQUIRED_RESOURCES = ("model_store",)

__all__ = ["REQUIRED_RESOURCES", "router"]
