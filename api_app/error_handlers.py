"""The one place errors become HTTP responses, all in the `common.errors.ErrorResponse` shape."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.errors import MAX_LISTED_ERRORS, ApiError, FieldProblem, error_body

log = logging.getLogger(__name__)

HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def _field(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _message(error: dict) -> str:
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "json_invalid":
        return "The body is not valid JSON" + (f" ({error['ctx']['error']})" if error.get("ctx") else "")
    return message.removeprefix("Value error, ")


async def handle_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(error_body(exc.code, exc.message, exc.errors, exc.error_count), exc.status_code,
                        headers=exc.headers)


async def handle_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    problems = [FieldProblem(field=_field(tuple(e.get("loc", ()))), message=_message(e))
                for e in errors[:MAX_LISTED_ERRORS]]
    detail = "; ".join(f"{p.field}: {p.message}" for p in problems) or "Invalid request"
    if len(errors) > len(problems):
        detail += f" (and {len(errors) - len(problems)} more problems)"
    return JSONResponse(error_body("invalid_input", detail, problems, len(errors)), 422)


async def handle_http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if exc.status_code == 404:
        detail = f"No endpoint at {request.url.path}; see /docs for the available endpoints."
    return JSONResponse(error_body(code, detail), exc.status_code, headers=exc.headers)


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = request.scope.get("state", {}).get("request_id", "")
    log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id)
    return JSONResponse(error_body(
        "internal_error", f"An unexpected error occurred (request id {request_id}); it has been logged."),
        500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, handle_api_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(Exception, handle_unexpected)
