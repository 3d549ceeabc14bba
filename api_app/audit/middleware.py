"""Records every model call, job operation, admin action and refused request in the audit trail: caller,
scope used, model, version, route, request id, a hash of the canonical body (the body itself only with
AUDIT_STORE_BODIES), a result summary, status, duration and job id. Never a key, token or header."""

import hashlib
import json
import re
import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_app.security.scopes import ADMIN
from common.cache import Memo
from common.metrics import model_label

SUMMARY_BYTES = 8192
JOB_LOCATION = re.compile(r"^/jobs/([A-Za-z0-9]{1,64})")
DENIALS = {401: "denied", 403: "denied", 429: "rate_limited"}
MEMO_ENTRIES = 256


def _canonical(body: bytes) -> tuple[bytes, object]:
    """The canonical JSON of a body (sorted keys, no spaces) and the parsed value; the raw bytes and None
    when it is not JSON."""
    try:
        value = json.loads(body)
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except ValueError:  # not JSON, or JSON whose text is not UTF-8 (e.g. a lone surrogate escape)
        return body, None
    return canonical, value


def body_hash(body: bytes) -> str | None:
    """SHA-256 of the canonical JSON (sorted keys, no spaces) so equal requests hash alike; raw bytes otherwise."""
    if not body:
        return None
    return hashlib.sha256(_canonical(body)[0]).hexdigest()


def _body_facts(body: bytes) -> tuple[str | None, object]:
    """The body's hash and the `version` it names (None when it names none)."""
    if not body:
        return None, None
    canonical, value = _canonical(body)
    version = value.get("version") if isinstance(value, dict) else None
    return hashlib.sha256(canonical).hexdigest(), version


def summarize(status: int, content_type: str, size: int, head: bytes) -> str:
    summary: dict[str, object] = {"bytes": size, "type": content_type.split(";")[0]}
    if content_type.startswith("application/json") and size <= SUMMARY_BYTES:
        try:
            value = json.loads(head)
        except ValueError:
            value = None
        if isinstance(value, dict):
            if status >= 400 and "code" in value:
                summary["error"] = value["code"]
            else:
                summary["keys"] = sorted(value)[:10]
                if isinstance(value.get("status"), str):
                    summary["status"] = value["status"]
    return json.dumps(summary, separators=(",", ":"))


def event_of(status: int, method: str, route: str, scope_used: str | None, model: str | None) -> str | None:
    if status in DENIALS:
        return DENIALS[status]
    if scope_used is None:
        return None
    if scope_used == ADMIN:
        return "admin"
    if route.startswith("/jobs"):
        return "job"
    if method == "POST":
        return "model_call"
    return None


@dataclass
class CapturedResponse:
    """What the middleware keeps of a response: status, raw headers, total size and the first bytes."""

    status: int = 500
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    size: int = 0
    head: bytes = b""

    def header(self, name: bytes) -> str | None:
        """The value of header `name` (lower case; the last one when repeated)."""
        found = None
        for key, value in self.headers:
            if key.lower() == name:
                found = value
        return None if found is None else found.decode("latin-1")


class AuditMiddleware:
    """Records the request once its answer is sent. A model call answered as many times as the result
    cache serves it has the same body hash, version and result summary every time: those are
    computed once per distinct small body and answer (`MEMO_ENTRIES` of each kept)."""

    def __init__(self, app: ASGIApp, store_bodies: bool) -> None:
        self.app = app
        self.store_bodies = store_bodies
        self._bodies = Memo(MEMO_ENTRIES)
        self._summaries = Memo(MEMO_ENTRIES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        chunks: list[bytes] = []
        response = CapturedResponse()

        async def capture_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                response.status = message["status"]
                response.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                response.size += len(body)
                if len(response.head) <= SUMMARY_BYTES:
                    response.head += body[: SUMMARY_BYTES + 1]
            await send(message)

        try:
            await self.app(scope, capture_receive, capture_send)
        finally:
            self._record(scope, b"".join(chunks), response, time.perf_counter() - started)

    def _body_facts(self, body: bytes) -> tuple[str | None, object]:
        if len(body) > SUMMARY_BYTES:
            return _body_facts(body)
        return self._bodies.get(body, lambda: _body_facts(body))

    def _summary(self, response: CapturedResponse) -> str:
        content_type = response.header(b"content-type") or ""
        arguments = (response.status, content_type, response.size, response.head)
        if response.size > SUMMARY_BYTES:
            return summarize(*arguments)
        return self._summaries.get(arguments, lambda: summarize(*arguments))

    def _record(self, scope: Scope, body: bytes, response: CapturedResponse, seconds: float) -> None:
        app_state = getattr(scope.get("app"), "state", None)
        writer = getattr(app_state, "audit", None)
        if writer is None:
            return
        state = scope.get("state", {})
        route = getattr(scope.get("route"), "path", None) or scope.get("path", "")
        status = response.status
        scope_used = state.get("required_scope")
        model = model_label(getattr(app_state, "model_prefixes", {}), route)
        event = event_of(status, scope["method"], route, scope_used, model)
        if event is None:
            return
        principal = state.get("principal")
        location = JOB_LOCATION.match(response.header(b"location") or "")
        job_id = location.group(1) if location else (scope.get("path_params") or {}).get("job_id")
        digest, body_version = self._body_facts(body)
        version = response.header(b"x-model-version") or body_version
        keep_body = self.store_bodies and scope_used != ADMIN and body
        writer.record(
            event=event,
            caller=principal.caller if principal else "anonymous",
            caller_kind=principal.kind if principal else "anonymous",
            scope=scope_used,
            model=model,
            version=str(version)[:60] if version else None,
            method=scope["method"],
            route=route[:300],
            request_id=state.get("request_id"),
            client=state.get("client"),
            body_hash=digest,
            body=body.decode("utf-8", "replace") if keep_body else None,
            status=status,
            duration_ms=round(seconds * 1000, 3),
            job_id=job_id,
            result_summary=self._summary(response),
            detail=state.get("denial"),
        )
