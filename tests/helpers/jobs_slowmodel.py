"""A test-only model whose computation takes as long as asked and reports progress at every step,
so a job can be caught mid-run (cancelled, or its worker killed), and fails when asked to: with bad
input it knows of (`fail: invalid`) or a bug (`fail: bug`, a bare ValueError). Importable by worker
subprocesses (they get tests/ on PYTHONPATH and import it as `helpers.jobs_slowmodel`)."""

import os
import time
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import Field

from api_app.run_model import run_model
from common.errors import InvalidInput
from common.requests import ModelRequest

PREFIX = "/slowtest"


class SlowRequest(ModelRequest):
    seconds: float = Field(1.0, ge=0, le=30)
    steps: int = Field(10, ge=1, le=1000)
    tag: str = Field("", max_length=50)
    fail: Literal["", "invalid", "bug"] = ""


BUG_MESSAGE = "internal invariant broken: 42 != 41"
"""What `fail: bug` raises; an answer must not show it."""


def slow(body: SlowRequest, indicators, progress=None) -> dict:
    if body.fail == "invalid":
        raise InvalidInput(f"The tag {body.tag!r} cannot be run here.", field="body.tag")
    if body.fail == "bug":
        raise ValueError(BUG_MESSAGE)
    for step in range(body.steps):
        if progress:
            progress("step", step / body.steps)
        time.sleep(body.seconds / body.steps)
    return {"tag": body.tag, "countries": len(indicators.countries), "pid": os.getpid()}


router = APIRouter(prefix=PREFIX)


@router.post("/run")
async def run(request: Request, body: SlowRequest):
    return await run_model(request, slow, body, resource="indicators")
