"""Table definitions (the migrations in `migrations/versions` create the same schema)."""

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData()
AutoId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and read back timezone-aware, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("salt", String(64), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", String(100), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime()),
    Column("revoked_at", UtcDateTime()),
    Column("rate_limit", String(40)),
    Column("heavy_concurrency", Integer),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("event", String(40), nullable=False),
    Column("caller", String(200), nullable=False),
    Column("caller_kind", String(20), nullable=False),
    Column("scope", String(20)),
    Column("model", String(100)),
    Column("version", String(60)),
    Column("method", String(10)),
    Column("route", String(300)),
    Column("request_id", String(64)),
    Column("client", String(64)),
    Column("body_hash", String(64)),
    Column("body", Text),
    Column("status", Integer),
    Column("duration_ms", Float),
    Column("job_id", String(64)),
    Column("result_summary", Text),
    Column("detail", Text),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_caller", "caller"),
    Index("ix_audit_events_model", "model"),
)
