"""Engines for DATABASE_URL and the Alembic upgrade both the service and the key CLI run at start."""

import fcntl
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

from common.settings import REPO_ROOT

if TYPE_CHECKING:  # Alembic is imported only when a database is brought to its schema
    from alembic.config import Config

log = logging.getLogger(__name__)
MIGRATIONS = REPO_ROOT / "migrations"


def make_engine(url: str) -> Engine:
    """An engine that fails fast when the server is unreachable (the audit writer spools meanwhile)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 15})

        @event.listens_for(engine, "connect")
        def _wal(connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
            connection.execute("PRAGMA journal_mode=WAL")

        return engine
    return create_engine(
        parsed, pool_pre_ping=True, pool_size=2, max_overflow=3, connect_args={"connect_timeout": 5}
    )


def alembic_config(url: str) -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    return config


@contextmanager
def _sqlite_lock(url: str) -> Iterator[None]:
    """Several uvicorn workers start together: on SQLite one upgrades while the others wait (PostgreSQL
    takes an advisory lock in migrations/env.py instead)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        yield
        return
    lock_path = Path(parsed.database).with_suffix(".migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upgrade_to_head(url: str) -> None:
    """Bring the database at `url` to the current schema (nothing to do when it already is)."""
    from alembic import command

    with _sqlite_lock(url):
        command.upgrade(alembic_config(url), "head")
