"""One error hierarchy. Every error the service returns is rendered by `error_body` in one shape:

    {"code": "invalid_input", "detail": "<message a dashboard can show>", "errors": [...]}

`errors` lists field-level problems (`{"field": "body.scheme", "message": "..."}`) when there are any:
at most `MAX_LISTED_ERRORS` of them; `error_count` gives how many there were in all.
"""

from typing import Any

from pydantic import BaseModel, Field

MAX_LISTED_ERRORS = 50
"""An error answer lists at most this many problems, so its size does not grow with the request."""


class FieldProblem(BaseModel):
    field: str = Field(description="Where the problem is, e.g. `body.scheme` or `query.target`.")
    message: str


class ErrorResponse(BaseModel):
    """The JSON body of every error response."""

    code: str = Field(description="Stable machine-readable error code.")
    detail: str = Field(description="Human-readable message, safe to show to a dashboard user.")
    errors: list[FieldProblem] = Field(
        default_factory=list,
        max_length=MAX_LISTED_ERRORS,
        description=f"The first {MAX_LISTED_ERRORS} field-level problems.",
    )
    error_count: int = Field(
        0,
        ge=0,
        description=f"How many problems there were in all (`errors` lists at most {MAX_LISTED_ERRORS}).",
    )


class ApiError(Exception):
    """Base of every error the service raises on purpose; subclasses fix the HTTP status."""

    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        errors: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
        error_count: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        self.error_count = len(self.errors) if error_count is None else error_count
        self.headers = headers or {}


class InvalidInput(ApiError):
    status_code = 422
    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        errors = kwargs.pop("errors", None) or (
            [FieldProblem(field=field, message=message)] if field else None
        )
        super().__init__(message, errors=errors, **kwargs)


class TooLong(ApiError):
    """The request is expected to take longer than its time limit; refused before it runs."""

    status_code = 422
    code = "too_long"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Unauthorized(ApiError):
    """No valid credentials for a route that needs more than anonymous callers hold."""

    status_code = 401
    code = "unauthorized"


class Forbidden(ApiError):
    """Valid credentials without the scope the route needs."""

    status_code = 403
    code = "forbidden"


class TooManyRequests(ApiError):
    """The caller is over its rate limit or its share of heavy work; `Retry-After` says when to retry."""

    status_code = 429
    code = "rate_limited"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "payload_too_large"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class Unavailable(ApiError):
    """A model or its data is not loaded (yet, or because loading failed)."""

    status_code = 503
    code = "unavailable"


class Overloaded(ApiError):
    """Too much work is already waiting; the caller should retry later."""

    status_code = 503
    code = "overloaded"


class ComputeTimeout(ApiError):
    status_code = 504
    code = "timeout"


class InternalError(ApiError):
    """An unexpected failure (a bug, or a dependency that broke): logged where it happened; the
    answer gives the ids its log lines carry, never the exception itself."""

    @classmethod
    def logged(cls, request_id: str | None, job_id: str | None = None) -> "InternalError":
        ids = f"request id {request_id or 'unknown'}" + (f", job {job_id}" if job_id else "")
        return cls(f"An unexpected error occurred ({ids}); it has been logged.")


class NotCached(ApiError):
    """`Cache-Control: only-if-cached` and no stored answer (RFC 9111 §5.2.1.7): nothing is computed."""

    status_code = 504
    code = "not_cached"


def error_body(
    code: str, detail: str, errors: list[FieldProblem] | None = None, error_count: int | None = None
) -> dict[str, Any]:
    """The error shape; `errors` is cut to its first MAX_LISTED_ERRORS (`error_count`: the total,
    by default the length of `errors`)."""
    errors = errors or []
    total = len(errors) if error_count is None else max(error_count, len(errors))
    return ErrorResponse(
        code=code, detail=detail, errors=errors[:MAX_LISTED_ERRORS], error_count=total
    ).model_dump()
