"""The `/v2` endpoints of the Open Inference Protocol (KServe V2) for every model in the model store
(mounted by `models/kserve_v2/`). Errors carry the protocol's `{"error": message}` besides the
service's usual `{code, detail, errors}`."""

import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api_app.error_handlers import describe, render
from common.body import OffLoopBodyRoute
from common.compute import run_cpu
from common.errors import ApiError, InvalidInput, NotFound
from common.resources import READY
from models._artifacts.router import (
    RESOURCE,
    json_response,
    loaded_registry,
    registry_of,
    score,
    serving_model,
)
from models._artifacts.serving import UnknownVersion
from models._artifacts.v2 import InferenceRequest, V2Error, decode, encode, metadata

INLINE_VALUES = 1_000
"""Requests with more tensor values are decoded on the compute pool, not on the event loop."""
SERVER_NAME = "sids-ml-backend"
STORE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
ModelName = Annotated[
    str, Path(max_length=100, description="A model of the store, e.g. sentiment.", examples=["sentiment"])
]
VersionName = Annotated[
    str,
    Path(
        max_length=50,
        description="A served version of the model (GET /v2/models/{name} lists them).",
        examples=["2"],
    ),
]


class ServerReady(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    version: str | None = None
    ready: bool


class V2Route(OffLoopBodyRoute):
    """Renders the errors of these endpoints as the app does, plus the protocol's `error` field."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except (RequestValidationError, ApiError) as exc:
                answer = describe(request, exc)
                return render(answer, error=answer.detail)

        return route


router = APIRouter(prefix="/v2", tags=["Open Inference Protocol (KServe V2)"], route_class=V2Route)


async def _model(request: Request, name: str):
    """A model of the store; a folder added since startup is loaded on first use."""
    store = (await loaded_registry(request.app)).store
    if store.get(name) is None and (
        STORE_NAME.fullmatch(name) is None or await run_cpu(store.reload, name) is None
    ):
        raise NotFound(f"Unknown model {name!r}; models: {', '.join(store.model_names())}")
    return await serving_model(request.app, name)


def _version(model, version: str | None):
    try:
        return model.choose(version or model.default)
    except UnknownVersion as exc:
        raise NotFound(str(exc)) from None


# Inference first: routes are matched in order, and it is the hot path.
@router.post("/models/{name}/infer", summary="Inference (default version or the A/B split)")
@router.post("/models/{name}/versions/{version}/infer", summary="Inference with one version")
async def infer(
    request: Request, body: InferenceRequest, name: ModelName, version: VersionName | None = None
) -> Response:
    model = await _model(request, name)
    if version is not None:
        _version(model, version)
    try:
        values = sum(len(tensor.data) for tensor in body.inputs)
        instances = (
            decode(model.spec, body) if values <= INLINE_VALUES else await run_cpu(decode, model.spec, body)
        )
        served, probabilities = await score(model, version, instances, "body.inputs")
        return json_response(encode(model.spec, served.version, probabilities, body))
    except V2Error as exc:
        raise InvalidInput(str(exc), field="body.inputs") from None


@router.get("", summary="Server metadata")
async def server_metadata(request: Request) -> dict:
    return {"name": SERVER_NAME, "version": request.app.version, "extensions": []}


@router.get("/health/live", summary="Server liveness")
async def server_live() -> dict:
    return {"live": True}


@router.get(
    "/health/ready",
    response_model=ServerReady,
    responses={400: {"model": ServerReady, "description": "Not ready"}},
    summary="Server readiness: 200 when the store is loaded and every model has a servable "
    "version, 400 otherwise",
)
def server_ready(request: Request) -> JSONResponse:
    ready = request.app.state.resources.state(RESOURCE).state == READY
    if ready:
        registry = registry_of(request.app)
        ready = all((m := registry.model(n)) is not None and m.versions for n in registry.names())
    return JSONResponse({"ready": ready}, status_code=200 if ready else 400)


@router.get("/models/{name}", summary="Model metadata (default version)")
@router.get("/models/{name}/versions/{version}", summary="Model metadata of one version")
async def model_metadata(request: Request, name: ModelName, version: VersionName | None = None) -> dict:
    model = await _model(request, name)
    served = _version(model, version)
    versions = [version] if version else list(model.versions)
    return metadata(model.spec, versions, served.stored.format)


@router.get(
    "/models/{name}/ready",
    summary="Model readiness",
    response_model=ModelReady,
    responses={400: {"model": ModelReady, "description": "Not ready"}},
)
@router.get(
    "/models/{name}/versions/{version}/ready",
    summary="Readiness of one version",
    response_model=ModelReady,
    responses={400: {"model": ModelReady, "description": "Not ready"}},
)
async def model_ready(request: Request, name: ModelName, version: VersionName | None = None) -> JSONResponse:
    model = await _model(request, name)
    ready = version is None or version in model.versions
    return JSONResponse(
        {"name": name, **({"version": version} if version else {}), "ready": ready},
        status_code=200 if ready else 400,
    )
