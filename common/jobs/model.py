"""What a job is: its spec (enough for a worker in another process to run it), its public view, and
how a failure travels between processes as data."""

import importlib
import inspect
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Callable, Literal

import pydantic_core
from pydantic import BaseModel, Field, PrivateAttr

from common.errors import ApiError, ErrorResponse, FieldProblem

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
ProgressFn = Callable[[str, float], None]


class Cancelled(Exception):
    """Raised by a job's progress callback once the job was cancelled (cooperative cancellation)."""


class JobProgress(BaseModel):
    stage: str = Field(description="What the computation is doing now, e.g. `training`.")
    fraction: float = Field(ge=0, le=1, description="Share of the work done (0..1), for a progress bar.")


DONE = JobProgress(stage="done", fraction=1.0)


class JobView(BaseModel):
    """A job as `GET /jobs/{id}` shows it."""

    id: str
    model: str = Field(description="Model package that runs the job.")
    status: JobStatus
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: JobProgress | None = None
    result: Any = Field(None, description="The endpoint's response body, once `succeeded`.")
    error: ErrorResponse | None = Field(None, description="Why the job `failed` (or was cancelled).")
    _failure: dict | None = PrivateAttr(None)

    def with_failure(self, payload: dict | None) -> "JobView":
        """Attach the failure as data (HTTP status included) so a waiting request can re-raise it."""
        self.error = error_model(payload)
        self._failure = payload
        return self

    @property
    def failure(self) -> dict | None:
        return self._failure


class JobAccepted(BaseModel):
    """Body of a `202 Accepted`: poll `Location` (`/jobs/{id}`) for the outcome."""

    id: str
    status: JobStatus


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs: function and request class by dotted path, the body as JSON, the
    name of the data (a key of `shared_dataloader.LOADERS`) and the dataset version it was keyed on."""

    model: str
    endpoint: str
    func: str
    request_class: str
    body: dict
    data: str | None
    fingerprint: str | None
    cache_key: str | None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict) -> "JobSpec":
        return cls(**value)


def dotted(obj: Any) -> str:
    """`module:qualname` of a module-level function or class, refusing what cannot be imported back."""
    path = f"{obj.__module__}:{obj.__qualname__}"
    if "<" in obj.__qualname__ or obj.__module__ == "__main__":
        raise TypeError(f"{path} cannot be run by a worker: use a module-level function or class")
    return path


def import_dotted(path: str) -> Any:
    module, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def invoke(fn: Callable, body: Any, data: Any, progress: ProgressFn | None) -> Any:
    """Call a model function `fn(body, data, progress=...)`; `progress` only if it takes one."""
    if progress is not None and "progress" in inspect.signature(fn).parameters:
        return fn(body, data, progress=progress)
    return fn(body, data)


def to_json(result: Any) -> bytes:
    """The response body of a model result (a pydantic model or plain JSON data); NaN becomes null."""
    if isinstance(result, BaseModel):
        return result.model_dump_json(by_alias=True).encode()
    return pydantic_core.to_json(result, by_alias=True, inf_nan_mode="null")


def error_payload(exc: BaseException, job_id: str = "") -> dict:
    """A failure as data: HTTP status and the common error body."""
    if isinstance(exc, ApiError):
        return {"status": exc.status_code, "code": exc.code, "detail": exc.message,
                "errors": [e.model_dump() for e in exc.errors]}
    if isinstance(exc, Cancelled):
        return {"status": 409, "code": "cancelled", "detail": "The job was cancelled.", "errors": []}
    if isinstance(exc, ValueError):
        return {"status": 422, "code": "invalid_input", "detail": str(exc), "errors": []}
    log.error("job %s failed", job_id, exc_info=exc)
    return {"status": 500, "code": "internal_error",
            "detail": f"The computation failed unexpectedly (job {job_id}); it has been logged.", "errors": []}


class JobFailed(ApiError):
    """A job's failure re-raised as the HTTP error it would have been had it run in this process."""

    def __init__(self, payload: dict, headers: dict[str, str] | None = None) -> None:
        super().__init__(payload["detail"], errors=[FieldProblem(**e) for e in payload.get("errors", [])],
                         headers=headers)
        self.status_code = int(payload.get("status", 500))
        self.code = payload.get("code", "internal_error")


def error_model(payload: dict | None) -> ErrorResponse | None:
    if payload is None:
        return None
    return ErrorResponse(code=payload["code"], detail=payload["detail"], errors=payload.get("errors", []))
