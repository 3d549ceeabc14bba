"""A test-only model whose computation takes as long as asked and reports progress at every step,
so a job can be caught mid-run (cancelled, or its worker killed). Importable by worker subprocesses
(they get tests/ on PYTHONPATH and import it as `helpers.jobs_slowmodel`)."""

import os
import time

from fastapi import APIRouter, Request
from pydantic import Field

from common.jobs import run_model
from common.requests import ModelRequest

PREFIX = "/slowtest"


class SlowRequest(ModelRequest):
    seconds: float = Field(1.0, ge=0, le=30)
    steps: int = Field(10, ge=1, le=1000)
    tag: str = Field("", max_length=50)


def slow(body: SlowRequest, dataset, progress=None) -> dict:
    for step in range(body.steps):
        if progress:
            progress("step", step / body.steps)
        time.sleep(body.seconds / body.steps)
    return {"tag": body.tag, "countries": len(dataset.countries), "pid": os.getpid()}


router = APIRouter(prefix=PREFIX)


@router.post("/run")
async def run(request: Request, body: SlowRequest):
    return await run_model(request, slow, body, data="indicators")
