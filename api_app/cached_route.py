"""Cached answers served from the request's raw bytes, without parsing or validating it again.

`run_model` records, for every request it answers from or into the result cache, the digest of the
request as it arrived (method, path, query, content type, body bytes) next to the cache key of its
answer (`api_app.run_model.remember_request`). A later request with the same digest means the same
thing: it passed validation then, and validation depends on nothing else. `CachedAnswerRoute` looks
that digest up before FastAPI parses the body; when the entry is still cached and the data it was
computed on is still the loaded version, it runs the route's access dependencies (authentication,
rate limits: they still count) and answers the stored bytes with their ETag (304 on a matching
`If-None-Match`). Anything else (unknown bytes, evicted entry, reloaded data) takes the full path,
so invalid bodies still get their 422. Middleware (request ids, audit, metrics, security headers)
wraps both paths alike.

    router = APIRouter(prefix="/mymodel", route_class=CachedAnswerRoute)
"""

import inspect
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api_app.run_model import cached_answer, request_index
from common.body import Handler, OffLoopBodyRoute
from common.cache import cache_get, raw_request_key
from common.metrics import model_label
from common.resources import READY
from common.telemetry import bind_for_request, set_attributes


def _takes_only_request(dependency: Callable[..., Any]) -> bool:
    parameters = list(inspect.signature(dependency).parameters.values())
    return len(parameters) == 1 and parameters[0].annotation is Request


def access_checks(dependencies: list[Any]) -> list[Callable[[Request], Any]] | None:
    """`dependencies` (the app's and the route's: the access check among them) as plain calls, or
    None when one needs more than the request (then the request takes the full path)."""
    calls = [depends.dependency for depends in dependencies]
    if all(call is not None and _takes_only_request(call) for call in calls):
        return calls
    return None


class CachedAnswerRoute(OffLoopBodyRoute):
    """An `OffLoopBodyRoute` whose POST requests already answered from the result cache are served
    from their raw bytes (see the module docstring)."""

    def get_route_handler(self) -> Handler:
        full = super().get_route_handler()
        if "POST" not in (self.methods or ()):
            return full
        endpoint = self.path
        checks: dict[int, list[Callable[[Request], Any]] | None] = {}

        async def route(request: Request) -> Response:
            # The app's dependencies (`FastAPI(dependencies=...)`) apply to every route; the
            # route's own include the router's. The routers are included without extra ones.
            app_router = request.app.router
            if id(app_router) not in checks:
                checks[id(app_router)] = access_checks([*app_router.dependencies, *self.dependencies])
            calls = checks[id(app_router)]
            answer = None if calls is None else await self._known_answer(request, calls, endpoint)
            return answer if answer is not None else await full(request)

        return route

    async def _known_answer(
        self, request: Request, checks: list[Callable[[Request], Any]], endpoint: str
    ) -> Response | None:
        if request.method != "POST":
            return None
        app = request.app
        index = request_index(app)
        if index is None or not len(index):
            return None
        raw_key = raw_request_key(
            request.method,
            request.url.path,
            request.scope.get("query_string", b""),
            request.headers.get("content-type", "").encode("latin-1"),
            await request.body(),
        )
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
        for check in checks:
            result = check(request)
            if inspect.isawaitable(result):
                await result
        model = model_label(getattr(app.state, "model_prefixes", {}), endpoint)
        model = model or endpoint.strip("/").split("/", 1)[0]
        set_attributes(model=model, result_cache="hit")
        bind_for_request(model=model)
        return cached_answer(request, entry)
