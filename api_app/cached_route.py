"""Cached answers served from the request's raw bytes, before routing, parsing or validating it again.

`run_model` records, for every request it answers from or into the result cache, the digest of the
request as it arrived (method, path, query, content type, body bytes) next to the cache key of its
answer (`api_app.run_model.remember_request`); a route of class `CachedAnswerRoute` is then known
for its path. A later request with the same digest means the same thing: it passed validation then,
and validation depends on nothing else.

`CachedAnswers`, the innermost middleware, looks that digest up for a POST to a known path before
FastAPI routes the request. When the entry is still cached and the data it was computed on is still
the loaded version, it runs the app's access check as the route would (authentication, scopes, rate
limits: they still count; a refusal answers in the common error shape) and answers the stored bytes
with their ETag (304 on a matching `If-None-Match`). Anything else (unknown bytes, evicted entry,
reloaded data) takes the full path, so invalid bodies still get their 415/422. The other middleware
(request ids, body limit, audit, CORS, security headers, metrics) wraps both paths alike: the answer
carries the route in the ASGI scope as FastAPI's routing would have set it.

    router = APIRouter(prefix="/mymodel", route_class=CachedAnswerRoute)

The route must not depend on more than the request body and the app's access check (no extra
dependencies on the router, its inclusion or the route that take more than the `Request`), and its
path must have no parameters; otherwise its requests always take the full path.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_app.error_handlers import handle_error
from api_app.run_model import cached_answer, known_routes, request_raw_key
from common.body import OffLoopBodyRoute
from common.cache import RequestIndex, cache_get
from common.errors import ApiError
from common.metrics import model_label
from common.resources import READY
from common.telemetry import bind_for_request, set_attributes

Check = Callable[[Request], Any]


def _takes_only_request(dependency: Callable[..., Any]) -> bool:
    parameters = list(inspect.signature(dependency).parameters.values())
    return len(parameters) == 1 and parameters[0].annotation is Request


def access_checks(dependencies: list[Any]) -> list[Check] | None:
    """`dependencies` (the app's and the route's: the access check among them) as plain calls, or
    None when one needs more than the request (then the request takes the full path)."""
    calls = [depends.dependency for depends in dependencies]
    if all(call is not None and _takes_only_request(call) for call in calls):
        return calls
    return None


class CachedAnswerRoute(OffLoopBodyRoute):
    """An `OffLoopBodyRoute` whose POST requests already answered from the result cache are served
    from their raw bytes by `CachedAnswers` (see the module docstring)."""

    serves_known_requests = True


@dataclass(frozen=True)
class KnownRoute:
    """A route `CachedAnswers` answers for: the route, its access checks and its model label."""

    route: APIRoute
    checks: list[Check]
    model: str


def _known_route(app: Any, route: APIRoute) -> KnownRoute | None:
    # The app's dependencies (`FastAPI(dependencies=...)`) apply to every route; the route's own
    # include its router's. The factory includes routers without extra ones.
    checks = access_checks([*app.router.dependencies, *route.dependencies])
    if checks is None:
        return None
    model = model_label(getattr(app.state, "model_prefixes", {}), route.path)
    return KnownRoute(route, checks, model or route.path.strip("/").split("/", 1)[0])


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body, and the message that cut it short (a disconnect) if one did."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(message: Message, receive_more: Receive) -> Receive:
    """Hand `message` to the app first, then pass on what the server sends."""
    pending = [message]

    async def receive() -> Message:
        return pending.pop() if pending else await receive_more()

    return receive


class CachedAnswers:
    """ASGI middleware (the innermost): answers POSTs whose raw bytes are known from the result cache
    without routing, parsing or validating them (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: dict[int, KnownRoute | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        route = known_routes(app).get(scope["path"])
        index: RequestIndex | None = getattr(app.state, "request_index", None)
        if route is None or not index:
            await self.app(scope, receive, send)
            return
        body, interruption = await _read_body(receive)
        if interruption is not None:  # the client went away: the app sees it as it would have
            await self.app(scope, _replay(interruption, receive), send)
            return
        receive = _replay({"type": "http.request", "body": body, "more_body": False}, receive)
        answer = await self._answer(scope, receive, body, app, route, index)
        await (self.app if answer is None else answer)(scope, receive, send)

    def _target(self, app: Any, route: APIRoute) -> KnownRoute | None:
        if id(route) not in self._routes:
            self._routes[id(route)] = _known_route(app, route)
        return self._routes[id(route)]

    async def _answer(
        self, scope: Scope, receive: Receive, body: bytes, app: Any, route: APIRoute, index: RequestIndex
    ) -> Response | None:
        target = self._target(app, route)
        if target is None or app.dependency_overrides:  # overridden checks apply on the full path
            return None
        raw_key = await request_raw_key(scope, body)
        scope.setdefault("state", {})["raw_request_key"] = raw_key  # for `remember_request` on a miss
        known = index.get(raw_key)
        if known is None:
            return None
        if known.data is not None:
            resource = app.state.resources.state(known.data)
            if resource.state != READY or getattr(resource.value, "fingerprint", None) != known.fingerprint:
                return None
        entry = await cache_get(app.state.cache, known.key)
        if entry is None:
            index.forget(raw_key)
            return None
        # What FastAPI's routing sets: the access check, the audit trail and the metrics read it.
        scope["route"] = target.route
        scope["endpoint"] = target.route.endpoint
        scope["path_params"] = {}
        request = Request(scope, receive)
        request._body = body
        try:
            for check in target.checks:
                result = check(request)
                if inspect.isawaitable(result):
                    await result
        except (ApiError, HTTPException) as refusal:
            return await handle_error(request, refusal)
        set_attributes(model=target.model, result_cache="hit")
        bind_for_request(model=target.model)
        return cached_answer(request, entry)
