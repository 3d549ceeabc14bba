"""Alembic environment: the URL comes from the caller (api_app.database) or from DATABASE_URL."""

from alembic import context
from sqlalchemy import text

from api_app.database.engine import make_engine
from api_app.database.tables import metadata

MIGRATION_LOCK = 1_505_150_015  # pg_advisory_lock key: one migrating process at a time


def _url() -> str:
    url = context.config.attributes.get("database_url")
    if url:
        return url
    from common.settings import get_settings

    return get_settings().effective_database_url


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
        try:
            context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
