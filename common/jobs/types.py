"""What a job is: its spec (enough for a worker in another process to run it), its public view, and
how a failure travels between processes as data."""

import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

import pydantic_core
from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    field_serializer,
    model_serializer,
)

from common.errors import MAX_LISTED_ERRORS, ApiError, ErrorResponse, FieldProblem, InternalError
from common.progress import Progress
from common.telemetry import current_request_id, span

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class Cancelled(Exception):
    """Raised by a job's progress callback once the job was cancelled (cooperative cancellation)."""


class JobProgress(BaseModel):
    stage: str = Field(description="What the computation is doing now, e.g. `training`.")
    fraction: float = Field(ge=0, le=1, description="Share of the work done (0..1), for a progress bar.")
    done: int | None = Field(None, ge=0, description="Units of work done (e.g. rows scored), when counted.")
    total: int | None = Field(None, ge=0, description="Units of work in all, when counted.")

    # No return annotation: pydantic would take it as the serialized schema (the OpenAPI of JobProgress).
    @model_serializer(mode="wrap")
    def _counts_when_known(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        return {k: v for k, v in handler(self).items() if v is not None or k not in ("done", "total")}

    @classmethod
    def of(
        cls, stage: str, fraction: float, done: int | None = None, total: int | None = None
    ) -> "JobProgress":
        """A progress report as a model function gives it, clipped to valid values."""
        return cls(
            stage=str(stage)[:200],
            fraction=min(max(float(fraction), 0.0), 1.0),
            done=None if done is None else max(int(done), 0),
            total=None if total is None else max(int(total), 0),
        )


DONE = JobProgress(stage="done", fraction=1.0)


class FileResult(BaseModel):
    """A job result that is a text file (e.g. a scored CSV). Answers render it as the file itself;
    `GET /jobs/{id}` shows it without its content, and `GET /jobs/{id}/result` serves it."""

    kind: Literal["file"] = "file"
    filename: str
    content_type: str
    content: str
    summary: dict[str, Any] = Field(
        default_factory=dict, description="A few facts about the file, e.g. its rows."
    )
    path: str | None = Field(
        None,
        description="Where the content is on disk when it was moved there "
        "(embedded jobs); `content` is empty then.",
    )
    size: int | None = None

    @classmethod
    def of(cls, value: Any) -> "FileResult | None":
        """The file result in a job's (JSON) result, or None when the result is not a file."""
        if isinstance(value, dict) and value.get("kind") == "file":
            return cls.model_validate(value)
        return None

    @classmethod
    def in_body(cls, body: bytes) -> "FileResult | None":
        """The file result serialized in a response body (cheap test: `to_json` keeps `kind` first)."""
        return cls.model_validate_json(body) if body.startswith(b'{"kind":"file"') else None

    def described(self, href: str) -> dict[str, Any]:
        size = self.size if self.size is not None else len(self.content.encode())
        return {
            "kind": self.kind,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": size,
            "summary": self.summary,
            "href": href,
        }


class JobView(BaseModel):
    """A job as `GET /jobs/{id}` shows it."""

    id: str
    model: str = Field(description="Model package that runs the job.")
    status: JobStatus
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: JobProgress | None = None
    result: Any = Field(
        None,
        description="The endpoint's response body, once `succeeded`; a file is "
        "described (`kind: file`, `href` to fetch it), not included.",
    )
    error: ErrorResponse | None = Field(None, description="Why the job `failed` (or was cancelled).")
    owner: str | None = Field(
        None,
        exclude=True,
        description="The authenticated caller that created the job "
        "(None: anonymous, reachable by its id alone).",
    )
    _failure: dict[str, Any] | None = PrivateAttr(None)

    def with_failure(self, payload: dict[str, Any] | None) -> "JobView":
        """Attach the failure as data (HTTP status included) so a waiting request can re-raise it."""
        self.error = error_model(payload)
        self._failure = payload
        return self

    @property
    def failure(self) -> dict[str, Any] | None:
        return self._failure

    @field_serializer("result")
    def _describe_file(self, value: Any) -> Any:
        file = FileResult.of(value)
        return file.described(f"/jobs/{self.id}/result") if file is not None else value


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
    body: dict[str, Any]
    data: str | None
    fingerprint: str | None
    cache_key: str | None
    owner: str | None = None
    trace: dict[str, Any] | None = None
    """Trace context, request id and queueing time (common.telemetry.carrier) for the worker."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> "JobSpec":
        return cls(**value)


@dataclass(frozen=True)
class Work:
    """One computation handed to an executor: the `spec` a queue worker rebuilds it from, and the
    function and validated body in hand, which the embedded executor calls as they are."""

    spec: JobSpec
    fn: Callable[..., Any]
    body: BaseModel


class JobStats(TypedDict):
    """Job figures for /metrics: `queued`/`running` now, `queue_depth` (jobs waiting for a worker),
    `completed` by outcome; a queue adds its live `workers` and the wait of its oldest job."""

    queued: int
    running: int
    queue_depth: int
    completed: dict[str, int]
    workers: NotRequired[int]
    oldest_seconds: NotRequired[float]


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


def invoke(fn: Callable[..., Any], body: Any, data: Any, progress: Progress | None) -> Any:
    """Call a model function `fn(body, data, progress=...)`; `progress` only if it takes one."""
    if progress is not None and "progress" in inspect.signature(fn).parameters:
        return fn(body, data, progress=progress)
    return fn(body, data)


def to_json(result: Any) -> bytes:
    """The response body of a model result (a pydantic model or plain JSON data); NaN becomes null."""
    with span("serialise"):
        if isinstance(result, BaseModel):
            return result.model_dump_json(by_alias=True).encode()
        return pydantic_core.to_json(result, by_alias=True, inf_nan_mode="null")


def error_payload(exc: BaseException, job_id: str = "") -> dict[str, Any]:
    """A failure as data: HTTP status and the common error body. An `ApiError` keeps its status (bad
    input is an `InvalidInput` raised by the code that knows it is bad); anything else is a 500 that
    is logged here and names the request id (bound in this context) and the job."""
    if isinstance(exc, Cancelled):
        return {"status": 409, "code": "cancelled", "detail": "The job was cancelled.", "errors": []}
    if not isinstance(exc, ApiError):
        request_id = current_request_id()
        log.error("computation failed (request %s, job %s)", request_id, job_id or "-", exc_info=exc)
        exc = InternalError.logged(request_id, job_id)
    return {
        "status": exc.status_code,
        "code": exc.code,
        "detail": exc.message,
        "errors": [e.model_dump() for e in exc.errors[:MAX_LISTED_ERRORS]],
        "error_count": exc.error_count,
    }


class JobFailed(ApiError):
    """A job's failure re-raised as the HTTP error it would have been had it run in this process."""

    def __init__(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        errors = [FieldProblem(**e) for e in payload.get("errors", [])]
        super().__init__(
            payload["detail"],
            errors=errors,
            headers=headers,
            error_count=payload.get("error_count", len(errors)),
        )
        self.status_code = int(payload.get("status", 500))
        self.code = payload.get("code", "internal_error")

    @classmethod
    def of(cls, view: JobView) -> "JobFailed":
        """A job that failed (or was cancelled) as the answer of the request awaiting it."""
        return cls(
            view.failure or {"status": 500, "code": "internal_error", "detail": "The job failed."},
            headers={"Location": f"/jobs/{view.id}"},
        )


def error_model(payload: dict[str, Any] | None) -> ErrorResponse | None:
    if payload is None:
        return None
    errors = payload.get("errors", [])[:MAX_LISTED_ERRORS]
    return ErrorResponse(
        code=payload["code"],
        detail=payload["detail"],
        errors=errors,
        error_count=payload.get("error_count", len(errors)),
    )
