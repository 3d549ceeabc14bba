"""The one place errors become HTTP responses, all in the `common.errors.ErrorResponse` shape."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.errors import MAX_LISTED_ERRORS, ApiError, FieldProblem, error_body
from common.requests import unknown_field_message

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _field(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _body_model(request: Request, loc: tuple) -> tuple[type[BaseModel] | None, tuple]:
    """The pydantic model of the body part `loc` points into, and `loc` relative to it."""
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


def _problem(request: Request, error: dict, body: object) -> FieldProblem:
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


def _not_json(errors: list[dict]) -> bool:
    """The body reached validation as raw bytes: it was sent with a Content-Type other than JSON."""
    return any(
        tuple(e.get("loc", ())) == ("body",) and isinstance(e.get("input"), (bytes, bytearray))
        for e in errors
    )


async def handle_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.message, exc.errors, exc.error_count), exc.status_code, headers=exc.headers
    )


async def handle_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if _not_json(errors):
        sent = request.headers.get("content-type") or "no Content-Type"
        return JSONResponse(
            error_body(
                "unsupported_media_type",
                f"This endpoint takes a JSON body: send it with the header "
                f"`Content-Type: application/json` (got {sent}).",
            ),
            415,
        )
    problems = [_problem(request, e, exc.body) for e in errors[:MAX_LISTED_ERRORS]]
    detail = "; ".join(f"{p.field}: {p.message}" for p in problems) or "Invalid request"
    if len(errors) > len(problems):
        detail += f" (and {len(errors) - len(problems)} more problems)"
    return JSONResponse(error_body("invalid_input", detail, problems, len(errors)), 422)


async def handle_http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if exc.status_code == 404:
        detail = f"No endpoint at {request.url.path}; see /docs for the available endpoints."
    elif exc.status_code == 405 and (exc.headers or {}).get("Allow"):
        allowed = exc.headers["Allow"]
        detail = f"{request.method} is not allowed on {request.url.path}; use {allowed}" + (
            " with a JSON body (see /docs)." if "POST" in allowed else "."
        )
    return JSONResponse(error_body(code, detail), exc.status_code, headers=exc.headers)


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = request.scope.get("state", {}).get("request_id", "")
    log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id)
    return JSONResponse(
        error_body(
            "internal_error", f"An unexpected error occurred (request id {request_id}); it has been logged."
        ),
        500,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, handle_api_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(Exception, handle_unexpected)
