"""Key management for admins: `GET /keys`, `POST /keys`, `POST /keys/{key_id}/revoke` (the same as
`python -m api_app.keys`). A new key is shown once, in the creation answer; it is never stored or audited."""

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api_app.security.keys import InvalidKeyRequest
from common.errors import InvalidInput, NotFound
from common.settings import RATE_LIMIT_PATTERN, SCOPES

router = APIRouter(prefix="/keys", tags=["Administration"])
KeyId = Annotated[
    str,
    Path(
        pattern=r"^[0-9a-f]{16}$", description="The key's id (`sids_<id>_…`).", examples=["0123456789abcdef"]
    ),
]


class KeyCreate(BaseModel):
    model_config = {
        "json_schema_extra": {"examples": [{"name": "dashboard-batch", "scopes": ["read", "compute"]}]}
    }

    name: str = Field(min_length=1, max_length=100, examples=["dashboard-batch"])
    scopes: list[str] = Field(
        min_length=1,
        max_length=len(SCOPES),
        description=f"Among {', '.join(SCOPES)}.",
        examples=[["read", "compute"]],
    )
    expires_at: datetime | None = Field(None, description="ISO 8601; omit for a key that does not expire.")
    rate_limit: str | None = Field(
        None,
        pattern=RATE_LIMIT_PATTERN,
        description="This key's own limit, e.g. `600/minute` (default RATE_LIMIT_AUTHENTICATED).",
    )
    heavy_concurrency: int | None = Field(None, ge=1, le=1000, description="This key's own heavy-work cap.")


class KeyView(BaseModel):
    id: str
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    rate_limit: str | None = None
    heavy_concurrency: int | None = None


class KeyCreated(KeyView):
    key: str = Field(description="The key itself: shown only now. Send it as `X-API-Key`.")


def _audit(request: Request, event: str, key: KeyView) -> None:
    principal = request.state.principal
    request.app.state.audit.record(
        event=event,
        caller=principal.caller,
        caller_kind=principal.kind,
        scope="admin",
        route=request.url.path,
        request_id=request.state.request_id,
        detail=f"key {key.id} ({key.name}) scopes {','.join(key.scopes)}",
    )


@router.get("", response_model=list[KeyView], summary="Every API key (never the keys themselves)")
async def list_keys(request: Request) -> list[KeyView]:
    return [KeyView(**k.as_dict()) for k in await asyncio.to_thread(request.app.state.keys.list)]


@router.post("", response_model=KeyCreated, status_code=201, summary="Create an API key (shown once)")
async def create_key(request: Request, body: KeyCreate) -> JSONResponse:
    try:
        info, key = await asyncio.to_thread(
            request.app.state.keys.create,
            body.name,
            body.scopes,
            body.expires_at,
            body.rate_limit,
            body.heavy_concurrency,
        )
    except InvalidKeyRequest as exc:
        raise InvalidInput(str(exc), field=f"body.{exc.field}") from None
    view = KeyCreated(**info.as_dict(), key=key)
    _audit(request, "key_created", view)
    return JSONResponse(view.model_dump(mode="json"), status_code=201)


@router.post("/{key_id}/revoke", response_model=KeyView, summary="Revoke an API key at once")
async def revoke_key(request: Request, key_id: KeyId) -> KeyView:
    info = await asyncio.to_thread(request.app.state.keys.revoke, key_id)
    if info is None:
        raise NotFound(f"No API key {key_id!r}; GET /keys lists them.")
    view = KeyView(**info.as_dict())
    _audit(request, "key_revoked", view)
    return view
