"""`run_model`: one call that makes a main model endpoint cacheable and job-capable.

    @router.post("/predict", ...)
    async def predict(request: Request, body: TrainRequest, indicators: IndicatorsDep) -> Response:
        return await run_model(request, service.predict, body, resource="indicators")

- identical request on the same dataset version → cached body, `ETag`; `If-None-Match` → 304;
- no `Prefer` header → synchronous as before (redis mode: queued, awaited, answered);
- `Prefer: respond-async` → 202, `Location: /jobs/{id}`, body `{id, status}`;
- `Prefer: wait=N` → the answer if done within N seconds, else that 202;
- `Cache-Control: only-if-cached` → the cached answer, else 504 `not_cached` without computing
  (the playground uses it so that opening a shared link never starts a training).

A function may return a `FileResult`: answers are then the file itself (its content type and a
`Content-Disposition` filename), and `GET /jobs/{id}/result` serves it.
"""

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.types import Scope

from common.body import INLINE_BODY_BYTES
from common.cache import (
    CachedResponse,
    KnownRequest,
    NoCache,
    RequestIndex,
    cache_get,
    cache_key,
    etag_matches,
    etag_of,
    raw_request_key,
)
from common.errors import ComputeTimeout, NotCached, NotFound, TooLong
from common.jobs import Executor
from common.jobs.types import (
    FileResult,
    JobAccepted,
    JobFailed,
    JobSpec,
    JobStatus,
    JobView,
    Work,
    dotted,
    to_json,
)
from common.metrics import model_label
from common.telemetry import bind_for_request, set_attributes

T = TypeVar("T")
_WAIT = re.compile(r"^wait\s*=\s*(\d{1,9})$", re.IGNORECASE)


def parse_prefer(values: list[str]) -> tuple[bool, float | None]:
    """(respond-async?, wait seconds) from RFC 7240 `Prefer` headers; unknown preferences are ignored."""
    asynchronous, wait = False, None
    for value in values:
        for token in value.split(","):
            token = token.split(";", 1)[0].strip()
            if token.lower() == "respond-async":
                asynchronous = True
            elif match := _WAIT.match(token):
                wait = float(match.group(1))
    return asynchronous, wait


def refuse_uncached(request: Request) -> None:
    """Raise `NotCached` when the request says `Cache-Control: only-if-cached` (call it once the
    cache missed, or at once for answers that are never cached)."""
    directives = {
        d.split("=", 1)[0].strip().lower()
        for value in request.headers.getlist("cache-control")
        for d in value.split(",")
    }
    if "only-if-cached" in directives:
        raise NotCached(
            "No stored answer for this request (Cache-Control: only-if-cached); "
            "send it without that header to compute it."
        )


async def single_flight(
    flights: dict[str, "asyncio.Future[T]"], key: str, start: Callable[[], Awaitable[T]]
) -> T:
    """Identical requests in flight share one computation (no thundering herd on a cold cache);
    a caller that goes away does not cancel it for the others."""
    task = flights.get(key)
    if task is None:
        task = asyncio.ensure_future(start())
        flights[key] = task
        task.add_done_callback(lambda _: flights.pop(key, None))
    return await asyncio.shield(task)


def _model_name(request: Request, endpoint: str) -> str:
    prefixes: dict[str, str] = getattr(request.app.state, "model_prefixes", {})
    return model_label(prefixes, endpoint) or endpoint.strip("/").split("/", 1)[0]


def file_response(file: FileResult, etag: str | None = None) -> Response:
    headers = {
        "Content-Disposition": f'attachment; filename="{file.filename}"',
        **({"ETag": etag} if etag else {}),
    }
    if file.path is not None:  # streamed from disk
        if not os.path.isfile(file.path):
            raise NotFound("The job's file has expired (JOB_RESULT_TTL_SECONDS after it finished).")
        return FileResponse(file.path, media_type=file.content_type, headers=headers)
    return Response(file.content.encode(), media_type=file.content_type, headers=headers)


def _json(body: bytes, etag: str | None = None, status: int = 200) -> Response:
    """The answer of a response body: JSON, or the file a `FileResult` body holds."""
    file = FileResult.in_body(body)
    if file is not None:
        return file_response(file, etag)
    return Response(
        body, status_code=status, media_type="application/json", headers={"ETag": etag} if etag else None
    )


def cached_answer(request: Request, entry: CachedResponse) -> Response:
    """A result-cache entry as the answer: 304 when `If-None-Match` names it, else the body and ETag."""
    if etag_matches(request.headers.get("if-none-match"), entry.etag):
        return Response(status_code=304, headers={"ETag": entry.etag})
    return _json(entry.body, entry.etag)


def request_index(app: Any) -> RequestIndex | None:
    """The app's index of requests known by their raw bytes (`api_app.cached_route`), created on first
    use; None when the result cache is off."""
    index: RequestIndex | None = getattr(app.state, "request_index", None)
    if index is None and not isinstance(app.state.cache, NoCache):
        index = app.state.request_index = RequestIndex(max(app.state.settings.cache_max_entries, 1))
    return index


def known_routes(app: Any) -> dict[str, Any]:
    """Request path → the route (one that `serves_known_requests`) of the requests `remember_request`
    recorded there: the paths `api_app.cached_route.CachedAnswers` looks at."""
    routes: dict[str, Any] | None = getattr(app.state, "known_routes", None)
    if routes is None:
        routes = app.state.known_routes = {}
    return routes


async def request_raw_key(scope: Scope, body: bytes) -> str:
    """`raw_request_key` of a request as it arrived (the body hashed off the event loop when large)."""
    content_type = next((value for name, value in scope["headers"] if name == b"content-type"), b"")
    parts = (scope["method"], scope["path"], scope.get("query_string", b""), content_type, body)
    if len(body) > INLINE_BODY_BYTES:
        return await asyncio.to_thread(raw_request_key, *parts)
    return raw_request_key(*parts)


async def remember_request(request: Request, key: str, resource: str | None, fingerprint: str | None) -> None:
    """Record that this request, byte for byte, is answered by the result-cache entry `key`."""
    index = request_index(request.app)
    if index is None:
        return
    scope = request.scope
    raw_key = scope.get("state", {}).get("raw_request_key") or await request_raw_key(
        scope, await request.body()
    )
    index.put(raw_key, KnownRequest(key, resource, fingerprint))
    route = scope.get("route")
    if getattr(route, "serves_known_requests", False) and not getattr(route, "param_convertors", None):
        known_routes(request.app)[scope["path"]] = route


def _accepted(view_id: str, status: JobStatus, applied: str) -> JSONResponse:
    return JSONResponse(
        JobAccepted(id=view_id, status=status).model_dump(),
        status_code=202,
        headers={"Location": f"/jobs/{view_id}", "Preference-Applied": applied, "Retry-After": "1"},
    )


def _outcome(view: JobView) -> Response:
    """The HTTP answer of a finished job (its executor has cached the body): the body, or its error."""
    if view.status == "succeeded":
        body = to_json(view.result)
        return _json(body, etag_of(body))
    raise JobFailed.of(view)


Estimate = Callable[[Any, Any], float]
"""`estimate(body, resource)`: expected seconds of a request, checked before it runs."""


async def refuse_too_long(
    estimate: Estimate | None,
    body: BaseModel | None,
    resource: Any,
    limit: float,
    synchronous: bool,
    job_limit: float,
) -> None:
    """422 at once when the request is expected to take longer than its time limit."""
    if estimate is None:
        return
    seconds = await asyncio.to_thread(estimate, body, resource)
    if seconds <= limit:
        return
    headers = {"X-Estimated-Seconds": f"{seconds:.0f}"}
    if synchronous and seconds <= job_limit:
        raise TooLong(
            f"This request is expected to take about {seconds:.0f} s, longer than the {limit:g} s "
            "limit of a synchronous request. Send it as a job with the header "
            f"`Prefer: respond-async` (limit {job_limit:g} s) and poll the `Location` it answers.",
            headers=headers,
        )
    raise TooLong(
        f"This request is expected to take about {seconds:.0f} s, longer than the {job_limit:g} s "
        "limit of a job; make it lighter (fewer estimators, predictors, folds or rows).",
        headers=headers,
    )


def _request_key(
    model: str, endpoint: str, body: BaseModel, fingerprint: str | None
) -> tuple[dict[str, Any], str]:
    """The body as JSON data and the cache key naming the request."""
    body_json = body.model_dump(mode="json", by_alias=True)
    return body_json, cache_key(model, endpoint, body_json, fingerprint)


async def run_model(
    request: Request,
    fn: Callable[..., Any],
    body: BaseModel,
    resource: str | None = None,
    cache_results: bool = True,
    estimate: Estimate | None = None,
) -> Response:
    """Run `fn(body, resource, progress=...)` for a main endpoint, honouring cache, ETag and `Prefer`.

    `resource` names the loaded resource the function needs (a key of `shared_dataloader.LOADERS`).
    `cache_results=False` for large, rarely repeated results (files): neither cached nor shared
    between identical requests in Redis mode. `estimate(body, resource)` gives the expected seconds: a
    request expected to overrun its time limit is refused at once (422).
    """
    app = request.app
    executor: Executor = app.state.jobs
    cache, settings = app.state.cache, app.state.settings
    route = request.scope.get("route")
    endpoint = getattr(route, "path", request.url.path)
    model = _model_name(request, endpoint)
    set_attributes(model=model)
    bind_for_request(model=model)
    loaded = app.state.resources.get(resource) if resource else None
    fingerprint = getattr(loaded, "fingerprint", None)
    if int(request.headers.get("content-length") or 0) > INLINE_BODY_BYTES:  # seconds for a large body
        body_json, key = await asyncio.to_thread(_request_key, model, endpoint, body, fingerprint)
    else:
        body_json, key = _request_key(model, endpoint, body, fingerprint)

    cached = await cache_get(cache, key) if cache_results else None
    set_attributes(result_cache="miss" if cached is None else "hit")
    if cached is not None:
        await remember_request(request, key, resource, fingerprint)
        return cached_answer(request, cached)
    refuse_uncached(request)

    asynchronous, wait = parse_prefer(request.headers.getlist("prefer"))
    synchronous = not asynchronous and wait is None
    limit = settings.compute_timeout_seconds if synchronous else settings.job_timeout_seconds
    await refuse_too_long(estimate, body, loaded, limit, synchronous, settings.job_timeout_seconds)
    spec = JobSpec(
        model=model,
        endpoint=endpoint,
        func=dotted(fn),
        request_class=dotted(type(body)),
        body=body_json,
        data=resource,
        fingerprint=fingerprint,
        cache_key=key if cache_results else None,
        owner=getattr(request.state, "job_owner", None),
    )
    work = Work(spec, fn, body)
    if synchronous:
        flights: dict[str, asyncio.Future[CachedResponse]] = app.state.flights
        entry = await single_flight(flights, key, lambda: executor.run(work, limit))
        if cache_results:
            await remember_request(request, key, resource, fingerprint)
        return cached_answer(request, entry)
    job_id = await executor.submit(work, limit)
    if wait is None:
        return _accepted(job_id, "queued", "respond-async")
    view = await executor.wait(job_id, min(wait, limit))
    if view is None:
        raise ComputeTimeout(f"Job {job_id} expired before it could be read.")
    if view.status in ("succeeded", "failed", "cancelled"):
        return _outcome(view)
    return _accepted(job_id, view.status, f"wait={wait:g}")
