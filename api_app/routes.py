"""Platform endpoints: /, /datasets, /params, /health/live, /health/ready."""

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from api_app.schemas import DatasetFile, DatasetListing, Liveness, ParamsEntry, Readiness, ServiceInfo
from common.errors import Unavailable
from common.params import ParamsBuilder, ParamsObject
from common.resources import FAILED, LOADING, READY

SERVICE_NAME = "SIDS ML Backend"
router = APIRouter(tags=["Platform"])


@router.get("/", response_model=ServiceInfo, summary="Service name, version and loaded models")
def service_info(request: Request) -> ServiceInfo:
    discovery = request.app.state.discovery
    return ServiceInfo(
        service=SERVICE_NAME,
        version=request.app.version,
        models=[p.name for p in discovery.mounted],
        unavailable_models={p.name: p.error for p in discovery.packages if p.error},
        docs="/docs",
        playground="/ui",
    )


@router.get("/datasets", response_model=DatasetListing, summary="Dataset files under DATASET_PATH")
def dataset_files(request: Request) -> DatasetListing:
    folder = request.app.state.settings.dataset_path
    if not folder.is_dir():
        raise Unavailable("The dataset folder (DATASET_PATH) does not exist.")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    return DatasetListing(
        files=[DatasetFile(name=p.relative_to(folder).as_posix(), bytes=p.stat().st_size) for p in files]
    )


@router.get(
    "/params",
    response_model=list[ParamsEntry],
    response_model_exclude_none=True,
    summary="Inputs of every model's main endpoint, for building forms",
)
def params(request: Request) -> list[ParamsObject]:
    return [ParamsBuilder(p.router).entry(p.name) for p in request.app.state.discovery.mounted]


@router.get("/health/live", response_model=Liveness, summary="Liveness: the process is up")
async def live() -> Liveness:
    return Liveness(status="alive")


def readiness(app: FastAPI) -> Readiness:
    resources = app.state.resources
    data = resources.snapshot()
    models: dict[str, dict[str, str]] = {}
    for package in app.state.discovery.packages:
        if package.error:
            models[package.name] = {"state": FAILED, "error": package.error}
            continue
        states = {name: resources.state(name) for name in package.required_resources}
        failed = {n: s for n, s in states.items() if s.state == FAILED}
        if failed:
            models[package.name] = {
                "state": FAILED,
                "error": "; ".join(f"data {n!r} failed: {s.error}" for n, s in failed.items()),
            }
        elif any(s.state == LOADING for s in states.values()) or not app.state.computing:
            models[package.name] = {"state": LOADING}
        elif package.health is not None:
            models[package.name] = package.health(app)
        else:
            models[package.name] = {"state": READY}
    ok = all(m["state"] == READY for m in models.values()) and all(d["state"] == READY for d in data.values())
    redis = app.state.jobs.link_state()
    return Readiness(status="ready" if ok else "not_ready", models=models, data=data, redis=redis)


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready; the body says why."}},
    summary="Readiness: 200 when the dataset and every selected model are loaded",
)
async def ready(request: Request) -> JSONResponse:
    report = readiness(request.app)
    return JSONResponse(
        report.model_dump(exclude_none=True), status_code=200 if report.status == "ready" else 503
    )
