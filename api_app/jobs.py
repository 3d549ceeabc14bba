"""`/jobs`: read and cancel long-running model work started with `Prefer: respond-async` / `wait=N`."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request

from common.errors import NotFound
from common.jobs import JobView

router = APIRouter(prefix="/jobs", tags=["Jobs"])

JobId = Annotated[str, Path(title="Job id", description="The id from the 202 answer's body or `Location`.",
                            max_length=64)]


def _missing(job_id: str) -> NotFound:
    return NotFound(f"No job {job_id!r}: it never existed or its result expired "
                    "(JOB_RESULT_TTL_SECONDS after it finished).")


@router.get("/{job_id}", response_model=JobView, summary="Status, progress and result of a job")
async def get_job(request: Request, job_id: JobId) -> JobView:
    executor = request.app.state.jobs
    view = await asyncio.to_thread(executor.get, job_id) if executor.backend == "redis" else executor.get(job_id)
    if view is None:
        raise _missing(job_id)
    return view


@router.post("/{job_id}/cancel", response_model=JobView, summary="Cancel a queued or running job",
             responses={409: {"description": "The job has already finished."}})
async def cancel_job(request: Request, job_id: JobId) -> JobView:
    """A queued job never starts. A running job stops: at once in redis mode (its work horse is
    killed), at its next progress report in local mode (cooperative cancellation)."""
    executor = request.app.state.jobs
    view = (await asyncio.to_thread(executor.cancel, job_id) if executor.backend == "redis"
            else executor.cancel(job_id))
    if view is None:
        raise _missing(job_id)
    return view
