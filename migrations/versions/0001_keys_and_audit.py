"""API keys and the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("rate_limit", sa.String(40)),
        sa.Column("heavy_concurrency", sa.Integer),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", AutoId, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("caller_kind", sa.String(20), nullable=False),
        sa.Column("scope", sa.String(20)),
        sa.Column("model", sa.String(100)),
        sa.Column("version", sa.String(60)),
        sa.Column("method", sa.String(10)),
        sa.Column("route", sa.String(300)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("client", sa.String(64)),
        sa.Column("body_hash", sa.String(64)),
        sa.Column("body", sa.Text),
        sa.Column("status", sa.Integer),
        sa.Column("duration_ms", sa.Float),
        sa.Column("job_id", sa.String(64)),
        sa.Column("result_summary", sa.Text),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_caller", "audit_events", ["caller"])
    op.create_index("ix_audit_events_model", "audit_events", ["model"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("api_keys")
