"""The key and audit database: SQLAlchemy 2 tables, engines and the Alembic upgrade to the current schema."""

from api_app.database.engine import make_engine, upgrade_to_head
from api_app.database.tables import api_keys, audit_events, metadata

__all__ = ["api_keys", "audit_events", "make_engine", "metadata", "upgrade_to_head"]
