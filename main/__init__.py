"""Azure Functions entry: one HTTP trigger (all methods, all routes) wrapping the same ASGI app; each
invocation writes its audit records before it returns."""

import asyncio

import azure.functions as func

from api_app import app

_middleware = func.AsgiMiddleware(app)
_startup: asyncio.Future | None = None


async def _start() -> None:
    """Run the app's startup once per worker and wait for its data, so a cold start answers."""
    await _middleware.notify_startup()
    await asyncio.shield(app.state.loading)


async def main(req: func.HttpRequest, context: func.Context | None = None) -> func.HttpResponse:
    global _startup
    if _startup is None:
        _startup = asyncio.ensure_future(_start())
    await asyncio.shield(_startup)
    response = await _middleware.handle_async(req, context)
    # The host may freeze the process between invocations: audit records are written before we answer.
    await asyncio.to_thread(app.state.audit.flush)
    return response
