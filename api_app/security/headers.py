"""Security headers on every response, `Cache-Control: no-store` on authenticated answers, the rate-limit
headers the access check computed, and the end (or hand-over to its job) of a heavy request's lease.

HTML pages (Swagger UI, ReDoc, the playground) get a Content-Security-Policy that allows only this
origin's scripts and styles plus the page's own inline scripts by hash: no CDN, no `unsafe-eval`.
"""

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
JOB_LOCATION = re.compile(r"^/jobs/([A-Za-z0-9]{1,64})$")


def html_csp(body: bytes) -> bytes:
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'"
        for s in INLINE_SCRIPT.findall(body)
    )
    return (
        (
            "default-src 'self'; script-src 'self' " + hashes + "; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
        )
        .replace("  ", " ")
        .encode()
    )


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    return next((v for k, v in headers if k.lower() == name), None)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        held: list[Message] = []
        job_id: str | None = None

        def finish_headers(message: Message, body: bytes | None) -> None:
            headers = [
                (k, v)
                for k, v in message.get("headers", [])
                if k.lower() != b"cache-control"
                or not getattr(state.get("principal"), "authenticated", False)
            ]
            present = {k.lower() for k, _ in headers}
            headers += [(k, v) for k, v in BASE_HEADERS if k not in present]
            for name, value in (state.get("rate_headers") or {}).items():
                if name.lower().encode() not in present:
                    headers.append((name.lower().encode(), value.encode()))
            if getattr(state.get("principal"), "authenticated", False):
                headers.append((b"cache-control", b"no-store"))
            if b"content-security-policy" not in present:
                headers.append((b"content-security-policy", html_csp(body) if body is not None else API_CSP))
            message["headers"] = headers

        async def send_with_headers(message: Message) -> None:
            nonlocal job_id
            if message["type"] == "http.response.start":
                location = (_header(message.get("headers", []), b"location") or b"").decode("latin-1")
                if message["status"] == 202 and (match := JOB_LOCATION.match(location)):
                    job_id = match.group(1)
                content_type = _header(message.get("headers", []), b"content-type") or b""
                if content_type.startswith(b"text/html"):
                    held.append(message)
                    return
                finish_headers(message, None)
            elif held:
                held.append(message)
                if message.get("more_body", False):
                    return
                start, *bodies = held
                finish_headers(start, b"".join(m.get("body", b"") for m in bodies))
                for pending in held:
                    await send(pending)
                return
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            lease = state.get("heavy_lease")
            access = getattr(scope.get("app"), "state", None)
            if lease is not None and access is not None:
                holders, lease_id = lease
                await access.access.leases.release(holders, lease_id, job_id)
