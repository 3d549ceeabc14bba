"""Uvicorn's HTTP protocol with the limits a server facing clients directly needs (no proxy in front:
README command 1, the container, a pod without an ingress). Select it wherever uvicorn starts:

    uvicorn api_app:app --http api_app.server:GuardedHttpToolsProtocol

- request line + headers larger than SERVER_MAX_HEADER_BYTES → 431, connection closed (uvicorn's own
  parser would buffer any size);
- request line + headers not received within SERVER_HEADER_TIMEOUT_SECONDS of the connection (or of
  the request's first byte on a kept-alive connection) → 408, closed;
- a body not received within SERVER_BODY_TIMEOUT_SECONDS after its headers → 408 (if no response
  started), closed; the app sees a disconnect;
- an idle kept-alive connection is closed after SERVER_KEEPALIVE_SECONDS.
"""

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from common.errors import error_body
from common.settings import get_settings

log = logging.getLogger("uvicorn.error")

REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` plus header-size, header-time and body-time limits per connection."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = get_settings()
        self.max_header_bytes = settings.server_max_header_bytes
        self.header_timeout = settings.server_header_timeout_seconds
        self.body_timeout = settings.server_body_timeout_seconds
        # uvicorn types this int (its CLI takes whole seconds) but only hands it to loop.call_later.
        self.timeout_keep_alive = settings.server_keepalive_seconds  # type: ignore[assignment]
        self._reading_headers = True
        self._header_bytes = 0
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, on_expiry: Callable[[], object]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, on_expiry)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _refuse(self, status: int, detail: str) -> None:
        """Answer `status` in the common error shape and close the connection (what else the client
        sent is ignored)."""
        self._refused = True
        self._disarm()
        body = json.dumps(
            error_body("request_timeout" if status == 408 else "headers_too_large", detail)
        ).encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, REASONS[status], len(body), body)
        )
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, self._headers_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._reading_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if (
            self._reading_headers
            and self._header_bytes > self.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._headers_too_large()

    def _headers_too_large(self) -> None:
        log.warning("request headers over %d bytes refused", self.max_header_bytes)
        self._refuse(431, f"The request line and headers are larger than {self.max_header_bytes} bytes.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._reading_headers:  # the next request on a kept-alive connection
            self._reading_headers, self._header_bytes = True, 0
            self._arm(self.header_timeout, self._headers_too_slow)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        if self._refused:
            return
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_header_bytes:  # all of it arrived in one read
            self._headers_too_large()
            return
        self._arm(self.body_timeout, self._body_too_slow)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if not self._refused:
            super().on_message_complete()

    def _headers_too_slow(self) -> None:
        if self._reading_headers and not self.transport.is_closing():
            if self._header_bytes == 0 and self.cycle is None:
                self.transport.close()  # connected and never sent anything: nothing to answer
                return
            log.warning("request headers not received within %g s; connection closed", self.header_timeout)
            self._refuse(408, f"The request headers did not arrive within {self.header_timeout:g} s.")

    def _body_too_slow(self) -> None:
        if self.transport.is_closing() or self.cycle is None or not self.cycle.more_body:
            return
        log.warning("request body not received within %g s; connection closed", self.body_timeout)
        if not self.cycle.response_started:  # the app waits for the body; it then sees a disconnect
            self._refuse(408, f"The request body did not arrive within {self.body_timeout:g} s.")
        else:
            self.transport.close()
