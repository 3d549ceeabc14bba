"""`/jobs`: read and cancel long-running model work started with `Prefer: respond-async` / `wait=N`,
and fetch a succeeded job's result (a file result as the file itself)."""

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api_app.run_model import file_response
from api_app.security.principal import Principal
from common.errors import Conflict, NotFound
from common.jobs import Executor
from common.jobs.types import FileResult, JobView, to_json

router = APIRouter(prefix="/jobs", tags=["Jobs"])

JobId = Annotated[
    str, Path(title="Job id", description="The id from the 202 answer's body or `Location`.", max_length=64)
]


def _missing(job_id: str) -> NotFound:
    return NotFound(
        f"No job {job_id!r}: it never existed, belongs to another caller, or its result expired "
        "(JOB_RESULT_TTL_SECONDS after it finished)."
    )


def may_access(request: Request, view: JobView) -> bool:
    """The job's creator or an admin; a job created anonymously is reachable by its (unguessable) id."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if view.owner is None or principal is None or "admin" in principal.scopes:
        return True
    return principal.caller == view.owner


async def _view(request: Request, job_id: str) -> JobView:
    executor: Executor = request.app.state.jobs
    view = await executor.get(job_id)
    if view is None or not may_access(request, view):
        raise _missing(job_id)
    return view


@router.get("/{job_id}", response_model=JobView, summary="Status, progress and result of a job")
async def get_job(request: Request, job_id: JobId) -> JobView:
    return await _view(request, job_id)


@router.get(
    "/{job_id}/result",
    summary="The result of a succeeded job: its file, or its JSON body",
    response_class=Response,
    responses={
        200: {"description": "A file result with its content type and filename, else JSON."},
        409: {"description": "The job has not succeeded (yet)."},
    },
)
async def get_job_result(request: Request, job_id: JobId) -> Response:
    view = await _view(request, job_id)
    if view.status in ("queued", "running"):
        progress = f" ({view.progress.fraction:.0%} done)" if view.progress else ""
        raise Conflict(
            f"Job {job_id} is {view.status}{progress}; poll GET /jobs/{job_id} until its status is "
            "succeeded, then fetch its result.",
            headers={"Retry-After": "1"},
        )
    if view.status != "succeeded":
        reason = f": {view.error.detail}" if view.error else ""
        raise Conflict(f"Job {job_id} has {view.status} and has no result{reason}")
    file = FileResult.of(view.result)
    if file is not None:
        return file_response(file)
    return Response(to_json(view.result), media_type="application/json")


@router.post(
    "/{job_id}/cancel",
    response_model=JobView,
    summary="Cancel a queued or running job",
    responses={409: {"description": "The job has already finished."}},
)
async def cancel_job(request: Request, job_id: JobId) -> JobView:
    """A queued job never starts. A running job stops at once: its compute process (embedded mode)
    or work horse (redis mode) is killed and replaced."""
    executor: Executor = request.app.state.jobs
    await _view(request, job_id)
    view = await executor.cancel(job_id)
    if view is None:
        raise _missing(job_id)
    return view
