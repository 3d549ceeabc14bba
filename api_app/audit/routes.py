"""`GET /audit` (admin): the audit trail, newest first, filtered, with cursor pagination or as CSV."""

import asyncio
import base64
import csv
import io
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select

from api_app.database.tables import audit_events
from common.errors import InvalidInput

router = APIRouter(tags=["Administration"])
FIELDS = [c.name for c in audit_events.columns]


class AuditRecord(BaseModel):
    id: int
    at: datetime
    event: str = Field(
        description="model_call, job, admin, denied, rate_limited, key_created, key_revoked, reload…"
    )
    caller: str = Field(description="`key:<id>`, `token:<subject>` or `anonymous`.")
    caller_kind: str
    scope: str | None = None
    model: str | None = None
    version: str | None = None
    method: str | None = None
    route: str | None = None
    request_id: str | None = None
    client: str | None = None
    body_hash: str | None = Field(None, description="SHA-256 of the canonical JSON body.")
    body: str | None = None
    status: int | None = None
    duration_ms: float | None = None
    job_id: str | None = None
    result_summary: str | None = None
    detail: str | None = None


class AuditPage(BaseModel):
    items: list[AuditRecord]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next (older) page; null at the end."
    )


def _cursor_id(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        record_id = int(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
    except ValueError:
        record_id = -1
    if not 0 < record_id < 2**62:
        raise InvalidInput(
            "cursor is not one this endpoint returned; start without it.", field="query.cursor"
        )
    return record_id


def _cursor(record_id: int) -> str:
    return base64.urlsafe_b64encode(str(record_id).encode()).decode().rstrip("=")


def query_audit(
    engine: Engine, filters: Mapping[str, object], before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Rows of the audit table as column -> value, newest first; `None` filters are not applied."""
    statement = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
    for name in ("caller", "model", "status", "event", "job_id", "request_id"):
        if filters.get(name) is not None:
            statement = statement.where(audit_events.c[name] == filters[name])
    if filters.get("since") is not None:
        statement = statement.where(audit_events.c.at >= filters["since"])
    if filters.get("until") is not None:
        statement = statement.where(audit_events.c.at < filters["until"])
    if before_id is not None:
        statement = statement.where(audit_events.c.id < before_id)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(statement)]


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()})
    return out.getvalue()


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="The audit trail (admin), newest first",
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "JSON page, or CSV with `format=csv`.",
        }
    },
)
async def audit_trail(
    request: Request,
    caller: Annotated[
        str | None, Query(max_length=200, description="e.g. `key:0123abcd…` or `anonymous`")
    ] = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    event: Annotated[str | None, Query(max_length=40)] = None,
    job_id: Annotated[str | None, Query(max_length=64)] = None,
    request_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601; records at or after")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601; records before")] = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    format: Annotated[Literal["json", "csv"], Query(description="`csv` downloads the page as CSV")] = "json",
) -> Response:
    app = request.app
    await asyncio.to_thread(app.state.audit.flush)
    filters = {
        "caller": caller,
        "model": model,
        "status": status,
        "event": event,
        "job_id": job_id,
        "request_id": request_id,
        "since": since,
        "until": until,
    }
    rows = await asyncio.to_thread(query_audit, app.state.database, filters, _cursor_id(cursor), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _cursor(rows[-1]["id"]) if more else None
    if format == "csv":
        headers = {"Content-Disposition": 'attachment; filename="audit.csv"'}
        if next_cursor:
            headers["X-Next-Cursor"] = next_cursor
        return Response(to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
    page = AuditPage(items=[AuditRecord(**row) for row in rows], next_cursor=next_cursor)
    return Response(page.model_dump_json(), media_type="application/json")
