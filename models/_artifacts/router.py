"""`artifact_router(spec)`: the HTTP face of one trained-artifact model (a thin model package
calls it). Endpoints: predict (main), versions, metadata, drift, batch, reload."""

import json
from typing import Annotated, cast

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from api_app.run_model import parse_prefer, refuse_too_long, refuse_uncached, run_model
from common.body import OffLoopBodyRoute
from common.compute import run_cpu
from common.constants import MAIN_ENDPOINT_TAG
from common.errors import InvalidInput, NotFound, PayloadTooLarge, Unavailable
from common.jobs import JobAccepted
from common.model_package import Resources
from common.resources import FAILED, LOAD_WAIT_SECONDS, READY
from models._artifacts import pipelines
from models._artifacts.batch import (
    FORMATS,
    expected_seconds,
    input_format,
    job_seconds,
    score_batch,
    score_file,
    scored_filename,
)
from models._artifacts.schemas import (
    BatchJobRequest,
    DriftResponse,
    PredictBody,
    PredictResponse,
    VersionsResponse,
    predict_request,
)
from models._artifacts.serving import INLINE_MAX, ArtifactModel, Registry, UnknownVersion, registry_for
from models._artifacts.spec import TEXT, InstanceError, ModelSpec, prepare

RESOURCE = "model_store"
VersionQuery = Annotated[
    str | None, Query(title="Model version", max_length=50, description="Omit for the default version.")
]


def registry_of(app) -> Registry:
    """The app's registry over the loaded store (503 while the store loads or if it failed)."""
    registry = app.state.artifact_registry = registry_for(app.state.resources.get(RESOURCE))
    return registry


async def loaded_registry(app) -> Registry:
    """`registry_of`, after waiting up to LOAD_WAIT_SECONDS for a store that is still loading."""
    await app.state.resources.wait_loaded(RESOURCE, LOAD_WAIT_SECONDS)
    return registry_of(app)


async def serving_model(app, name: str, spec: ModelSpec | None = None) -> ArtifactModel:
    """The current serving state of `name`, reloaded first when its store folder changed."""
    registry = await loaded_registry(app)
    if registry.store.is_stale(name):
        await run_cpu(registry.store.reload, name)
    model = registry.model(name, spec)
    if model is not None and not model.prepared:  # its artifacts are still loading after readiness
        await run_cpu(model.prepare)
    if model is None or not model.versions:
        reasons = "; ".join(f"{v}: {r}" for v, r in (model.skipped if model else {}).items())
        raise Unavailable(
            f"No servable version of {name} in the model store" + (f" ({reasons})" if reasons else "") + "."
        )
    return model


def json_response(payload: dict) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")).encode(), media_type="application/json")


def predictions(model: ArtifactModel, version: str, probabilities) -> dict:
    labels = model.spec.labels
    return {
        "model": model.spec.name,
        "version": version,
        "labels": list(labels),
        "predictions": [labels[i] for i in probabilities.argmax(axis=1)],
        "probabilities": probabilities.tolist(),
    }


def prepare_and_score(served, spec: ModelSpec, instances: list):
    return served.score(prepare(spec, instances), len(instances))


async def score(model: ArtifactModel, version: str | None, instances: list, field: str):
    """(served version, probabilities) of instances; cheap small requests run inline, a version that
    a compute process scores is awaited on the event loop."""
    try:
        served = model.choose(version)
    except UnknownVersion as exc:
        raise InvalidInput(str(exc), field="body.version") from None
    try:
        if served.runs_inline(len(instances)):
            return served, prepare_and_score(served, model.spec, instances)
        if served.offloaded():
            small = len(instances) <= INLINE_MAX
            batch = prepare(model.spec, instances) if small else await run_cpu(prepare, model.spec, instances)
            return served, await served.score_async(batch, len(instances))
        # validating many instances takes time too: off the event loop with the scoring
        return served, await run_cpu(prepare_and_score, served, model.spec, instances)
    except InstanceError as exc:
        raise InvalidInput(str(exc), field=field) from None


def warm_up(spec: ModelSpec):
    """The WARMUP of an artifact model's package: deserialize its versions and build their predictors
    (after readiness, so that the first request does not wait for them)."""

    def run(resources: Resources) -> None:
        model = registry_for(resources[RESOURCE]).model(spec.name, spec)
        if model is not None:
            model.prepare()

    return run


def compute_warm_up(spec: ModelSpec | None = None):
    """The COMPUTE_WARMUP of an artifact package (run where the compute processes are forked from):
    deserialize the pipelines of its model (`spec`; None: every model of the store) that compute
    processes score for the API process, so that each of them inherits them (`pipelines.preload`)."""

    def run(resources: Resources) -> None:
        pipelines.preload(resources[RESOURCE], None if spec is None else [spec.name])

    return run


def health(spec: ModelSpec):
    """Readiness of the model's package: failed without a servable version; skipped versions noted.
    A version is servable once verified (`models._artifacts.store`); one whose artifact then fails to
    deserialize is reported skipped from then on, and the model failed if it was the last."""

    def report(app) -> dict:
        state = app.state.resources.state(RESOURCE)
        if state.state != READY:
            return {"state": state.state, **({"error": state.error} if state.error else {})}
        model = registry_of(app).model(spec.name, spec)
        problems = [f"version {v} skipped: {r}" for v, r in (model.skipped if model else {}).items()]
        if model is not None and model.stored.routing_error:
            problems.append(f"routing.json ignored: {model.stored.routing_error}")
        detail = "; ".join(problems)
        if model is None or not model.versions:
            return {"state": FAILED, "error": detail or f"no folder {spec.name!r} in MODEL_STORE_PATH"}
        return {"state": READY, **({"detail": detail} if detail else {})}

    return report


def artifact_router(spec: ModelSpec) -> APIRouter:
    router = APIRouter(prefix=f"/{spec.name}", tags=[spec.label], route_class=OffLoopBodyRoute)
    Body = predict_request(spec)
    field = "body.instances"

    @router.post(
        "/predict",
        response_model=PredictResponse,
        openapi_extra={MAIN_ENDPOINT_TAG: True},
        summary=f"Classify one or many instances ({spec.description})",
    )
    # FastAPI reads the request model built for this spec from the annotation; mypy cannot follow it.
    async def predict(body: Body, request: Request) -> Response:  # type: ignore[valid-type]
        refuse_uncached(request)
        read = cast(PredictBody, body)
        model = await serving_model(request.app, spec.name, spec)
        instances = (
            read.instances
            if spec.kind == TEXT
            else [i if isinstance(i, list) else i.model_dump() for i in read.instances]
        )
        served, probabilities = await score(model, read.version, instances, field)
        return json_response(predictions(model, served.version, probabilities))

    @router.get(
        "/versions",
        response_model=VersionsResponse,
        response_model_exclude_none=True,
        summary="Served versions, the default, the A/B split and skipped versions",
    )
    async def versions(request: Request) -> dict:
        return (await serving_model(request.app, spec.name, spec)).describe()

    @router.get(
        "/metadata",
        summary="Metadata of a version: input schema, labels, training data "
        "fingerprint, held-out metrics, framework versions",
    )
    async def metadata(request: Request, version: VersionQuery = None) -> dict:
        model = await serving_model(request.app, spec.name, spec)
        try:
            return model.choose(version or model.default).stored.metadata
        except UnknownVersion as exc:
            raise InvalidInput(str(exc), field="query.version") from None

    @router.get(
        "/drift",
        response_model=DriftResponse,
        summary="Input drift of recent requests against the training data (PSI per feature)",
    )
    async def drift(request: Request, version: VersionQuery = None) -> dict:
        model = await serving_model(request.app, spec.name, spec)
        try:
            return await run_cpu(model.drift, version)
        except UnknownVersion as exc:
            raise InvalidInput(str(exc), field="query.version") from None

    @router.post(
        "/batch",
        summary="Score a CSV or JSON-lines file; returns the scored file",
        response_class=Response,
        responses={
            200: {
                "content": {m: {} for m in FORMATS.values()},
                "description": "The input rows with prediction and probabilities.",
            },
            202: {
                "model": JobAccepted,
                "description": (
                    "With `Prefer: respond-async` (or `wait=N` and not done in N s): a job; "
                    "poll `Location` (`/jobs/{id}`), then GET `/jobs/{id}/result` for the file."
                ),
            },
        },
    )
    async def batch(
        request: Request,
        file: Annotated[
            UploadFile,
            File(
                description=(
                    "CSV with a header (`text`, or the feature names) or JSON lines (one instance per line)"
                )
            ),
        ],
        version: Annotated[str | None, Form(max_length=50)] = None,
        output: Annotated[
            str | None, Form(pattern="^(csv|jsonl)$", description="csv or jsonl; default: as input")
        ] = None,
    ) -> Response:
        """Without `Prefer`, answers the scored file. `Prefer: respond-async` makes it a job (202,
        `Location: /jobs/{id}`, progress in rows); `wait=N` answers the file if done within N s."""
        model = await serving_model(request.app, spec.name, spec)
        fmt = input_format(file.filename, file.content_type)
        if fmt is None:
            raise InvalidInput(
                "Upload a .csv or .jsonl file (or set its content type to text/csv or application/x-ndjson).",
                field="body.file",
            )
        limit = request.app.state.settings.max_body_bytes
        content = await file.read(limit + 1)
        if len(content) > limit:
            raise PayloadTooLarge(f"The file is larger than the limit of {limit} bytes.")
        try:
            served = model.choose(version)
        except UnknownVersion as exc:
            raise InvalidInput(str(exc), field="body.version") from None
        asynchronous, wait = parse_prefer(request.headers.getlist("prefer"))
        if asynchronous or wait is not None:
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(
                    "The file cannot be scored: the file must be UTF-8 text", field="body.file"
                ) from None
            request.app.state.jobs.check_file_room(len(content))
            job = BatchJobRequest(
                spec=spec.to_json(),
                version=served.version,
                content=text,
                artifact_sha256=served.stored.metadata["artifact_sha256"],
                input_format=fmt,
                output=output or fmt,
            )
            return await run_model(
                request, score_file, job, resource=RESOURCE, cache_results=False, estimate=job_seconds
            )
        settings = request.app.state.settings
        await refuse_too_long(
            lambda *_: expected_seconds(content),
            None,
            None,
            settings.compute_timeout_seconds,
            True,
            settings.job_timeout_seconds,
        )
        try:
            scored, out, _ = await run_cpu(score_batch, spec, served, content, fmt, output)
        except InstanceError as exc:
            raise InvalidInput(f"The file cannot be scored: {exc}", field="body.file") from None
        return Response(
            scored,
            media_type=FORMATS[out],
            headers={
                "Content-Disposition": f'attachment; filename="{scored_filename(spec, served.version, out)}"',
                "X-Model-Version": served.version,
            },
        )

    @router.post(
        "/reload",
        response_model=VersionsResponse,
        response_model_exclude_none=True,
        summary="Reload this model's versions and routing from the store now",
    )
    async def reload(request: Request) -> dict:
        registry = await loaded_registry(request.app)
        if await run_cpu(registry.store.reload, spec.name) is None:
            raise NotFound(f"The model store has no folder {spec.name!r}.")
        return (await serving_model(request.app, spec.name, spec)).describe()

    return router


__all__ = [
    "artifact_router",
    "compute_warm_up",
    "health",
    "loaded_registry",
    "registry_of",
    "serving_model",
    "warm_up",
]
