"""JSON request bodies parsed and validated off the event loop when they are large.

FastAPI parses and validates a body on the event loop; for a multi-megabyte body that takes long
enough to stall every other request (liveness included). `OffLoopBodyRoute` does both on a
thread for bodies over `INLINE_BODY_BYTES` and hands FastAPI the validated model, which it accepts
as it is. Small bodies keep FastAPI's inline path (a thread hop costs more than they do).

    router = APIRouter(prefix="/mymodel", route_class=OffLoopBodyRoute)
"""

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

INLINE_BODY_BYTES = 64 * 1024
"""Bodies up to this size are parsed and validated inline by FastAPI."""

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def _json_invalid(position: int, reason: str) -> RequestValidationError:
    """The error FastAPI itself raises for a body that is not JSON."""
    return RequestValidationError(
        [
            {
                "type": "json_invalid",
                "loc": ("body", position),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": reason},
            }
        ]
    )


def parse_and_validate(body: bytes, body_field: Any) -> Any:
    """The validated body (runs on a worker thread); `RequestValidationError` when it is invalid."""
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as exc:
        raise _json_invalid(exc.pos, exc.msg) from None
    except RecursionError:
        raise _json_invalid(0, "the JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _json_invalid(0, str(exc)) from None
    value, errors = body_field.validate(parsed, {}, loc=("body",))
    if errors:
        raise RequestValidationError(errors)
    return value


def off_loop_body(handler: Handler, body_field: Any) -> Handler:
    """Wrap a FastAPI route handler so that a large JSON body is parsed and validated on a thread."""
    if body_field is None:
        return handler

    async def route(request: Request) -> Response:
        if _is_json(request):
            body = await request.body()
            if len(body) > INLINE_BODY_BYTES:
                # FastAPI reads request.json() and validates it; a model instance passes unchanged.
                request._json = await asyncio.to_thread(parse_and_validate, body, body_field)
        return await handler(request)

    return route


class OffLoopBodyRoute(APIRoute):
    """An APIRoute whose large JSON bodies are parsed and validated off the event loop."""

    def get_route_handler(self) -> Handler:
        return off_loop_body(super().get_route_handler(), self._single_model_body())

    def _single_model_body(self) -> Any:
        """The body field when the body is one pydantic model (not embedded); else None."""
        params = self.dependant.body_params
        if len(params) != 1 or getattr(params[0].field_info, "embed", False):
            return None
        annotation = params[0].field_info.annotation
        return self.body_field if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
