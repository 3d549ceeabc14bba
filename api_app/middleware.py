"""ASGI middleware: allowed methods, body-size limit and request ids, answered in the common error shape."""

import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_app.error_handlers import ErrorAnswer, render
from common.telemetry import bind, set_attributes

ALLOWED_METHODS = ("GET", "POST", "OPTIONS")


class RequestGuard:
    """Refuses methods other than GET/POST/OPTIONS (405) and bodies over `max_body_bytes` (413)
    before the app parses anything; tags every response with `X-Request-ID` (the caller's, up to 64
    characters, or a new one), which every log line of the request carries and its trace records."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        set_attributes(request_id=request_id)
        id_header = (b"x-request-id", request_id.encode("latin-1"))

        if scope["method"] not in ALLOWED_METHODS:
            refusal = ErrorAnswer(
                405,
                "method_not_allowed",
                f"Method {scope['method']} is not allowed; use one of {', '.join(ALLOWED_METHODS)}.",
                headers={"Allow": ", ".join(ALLOWED_METHODS), "X-Request-ID": request_id},
            )
            await render(refusal)(scope, receive, send)
            return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await render(self._too_large(request_id))(scope, receive, send)
            return

        if length is None and scope["method"] == "POST":
            body = await self._read_limited(receive)
            if body is None:
                await render(self._too_large(request_id))(scope, receive, send)
                return
            receive = _replay(body, receive)

        async def tagged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        with bind(request_id=request_id):
            await self.app(scope, receive, tagged_send)

    def _too_large(self, request_id: str) -> ErrorAnswer:
        return ErrorAnswer(
            413,
            "payload_too_large",
            f"The request body is larger than the limit of {self.max_body_bytes} bytes.",
            headers={"X-Request-ID": request_id},
        )

    async def _read_limited(self, receive: Receive) -> bytes | None:
        """Read a body sent without Content-Length (chunked); None once it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive_more: Receive) -> Receive:
    """Hand the buffered body to the app once, then pass on what the server sends (disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive_more()

    return receive
