"""The one place errors become HTTP responses, all in the `common.errors.ErrorResponse` shape:
`describe` says what an exception answers, `render` makes the response. The app's exception
handlers, the request guard middleware and the KServe V2 routes all answer through them."""

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.errors import MAX_LISTED_ERRORS, ApiError, FieldProblem, InternalError, error_body
from common.requests import unknown_field_message
from common.telemetry import bind

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _body_model(request: Request, loc: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
    """The pydantic model (the annotation) of the body part `loc` points into, and `loc` relative to it."""
    route = request.scope.get("route")
    params = route.dependant.body_params if isinstance(route, APIRoute) else []
    if len(params) == 1 and not getattr(route, "_embed_body_fields", False):
        return params[0].field_info.annotation, loc[1:]
    named = {param.alias: param for param in params}
    if len(loc) > 1 and loc[1] in named:
        return named[loc[1]].field_info.annotation, loc[2:]
    return None, loc[1:]


def _json_position(document: object, position: object) -> str:
    """`line L, column C` of a character offset in the body that failed to parse."""
    if not isinstance(document, str) or not isinstance(position, int):
        return ""
    line = document.count("\n", 0, position) + 1
    column = position - (document.rfind("\n", 0, position) + 1) + 1
    return f" at line {line}, column {column}"


def _problem(request: Request, error: dict[str, Any], body: object) -> FieldProblem:
    loc = tuple(error.get("loc", ()))
    kind = error.get("type")
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "invalid JSON")
        where = _json_position(body, loc[-1] if len(loc) > 1 else None)
        return FieldProblem(field="body", message=f"The body is not valid JSON: {reason}{where}.")
    if kind == "extra_forbidden" and loc[:1] == ("body",):
        model, path = _body_model(request, loc)
        return FieldProblem(field=_field(loc), message=unknown_field_message(model, path))
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return FieldProblem(field=_field(loc), message=message)


def _not_json(errors: list[dict[str, Any]]) -> bool:
    """The body reached validation as raw bytes: it was sent with a Content-Type other than JSON."""
    return any(
        tuple(e.get("loc", ())) == ("body",) and isinstance(e.get("input"), (bytes, bytearray))
        for e in errors
    )


@dataclass(frozen=True)
class ErrorAnswer:
    """What an error answers: status, the fields of the common body and headers."""

    status: int
    code: str
    detail: str
    errors: list[FieldProblem] = field(default_factory=list)
    error_count: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


def render(answer: ErrorAnswer, **protocol_fields: str) -> JSONResponse:
    """The one rendering of an error as an HTTP response (also an ASGI app, for middleware).
    `protocol_fields` go first in the body, for protocols that ask for their own (KServe V2's `error`)."""
    body = {**protocol_fields, **error_body(answer.code, answer.detail, answer.errors, answer.error_count)}
    return JSONResponse(body, answer.status, headers=answer.headers or None)


def describe(request: Request, exc: Exception) -> ErrorAnswer:
    """What any exception raised while answering `request` answers; an unexpected one is logged
    here and answers a 500 naming the request id."""
    if isinstance(exc, ApiError):
        return ErrorAnswer(exc.status_code, exc.code, exc.message, exc.errors, exc.error_count, exc.headers)
    if isinstance(exc, RequestValidationError):
        return _validation_error(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return _http_error(request, exc)
    # Unexpected errors reach here from outside the request guard (Starlette's outermost
    # middleware): the request id is bound again for the log line and set on the answer.
    request_id = request.scope.get("state", {}).get("request_id", "")
    with bind(request_id=request_id or None):
        log.error(
            "unhandled error in %s %s (request %s)",
            request.method,
            request.url.path,
            request_id,
            exc_info=exc,
        )
    answer = describe(request, InternalError.logged(request_id))
    return replace(answer, headers={"X-Request-ID": request_id} if request_id else {})


def _validation_error(request: Request, exc: RequestValidationError) -> ErrorAnswer:
    errors = list(exc.errors())
    if _not_json(errors):
        sent = request.headers.get("content-type") or "no Content-Type"
        return ErrorAnswer(
            415,
            "unsupported_media_type",
            f"This endpoint takes a JSON body: send it with the header "
            f"`Content-Type: application/json` (got {sent}).",
        )
    problems = [_problem(request, e, exc.body) for e in errors[:MAX_LISTED_ERRORS]]
    detail = "; ".join(f"{p.field}: {p.message}" for p in problems) or "Invalid request"
    if len(errors) > len(problems):
        detail += f" (and {len(errors) - len(problems)} more problems)"
    return ErrorAnswer(422, "invalid_input", detail, problems, len(errors))


def _http_error(request: Request, exc: StarletteHTTPException) -> ErrorAnswer:
    code = HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        detail = f"No endpoint at {request.url.path}; see /docs for the available endpoints."
    elif exc.status_code == 405 and headers.get("Allow"):
        allowed = headers["Allow"]
        detail = f"{request.method} is not allowed on {request.url.path}; use {allowed}" + (
            " with a JSON body (see /docs)." if "POST" in allowed else "."
        )
    return ErrorAnswer(exc.status_code, code, detail, headers=headers)


async def handle_error(request: Request, exc: Exception) -> Response:
    return render(describe(request, exc))


def install(app: FastAPI) -> None:
    for kind in (ApiError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, handle_error)
