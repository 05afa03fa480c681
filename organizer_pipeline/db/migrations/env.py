"""Alembic environment: the URL comes from the caller (see migrate.py), never from a file."""

from alembic import context
from sqlalchemy import pool, text

from organizer_pipeline.db import urls
from organizer_pipeline.db.migrate import VERSION_SCHEMA

config = context.config


def prepare_version_table(connection) -> None:
    """Alembic's bookkeeping lives in `ops`, which the app role owns (it may not create tables in `public`).
    Databases migrated before kept it in `public`: move it there once."""
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {VERSION_SCHEMA}"))
    legacy = connection.execute(
        text(
            f"SELECT to_regclass('public.alembic_version') IS NOT NULL "
            f"AND to_regclass('{VERSION_SCHEMA}.alembic_version') IS NULL"
        )
    ).scalar()
    if legacy:
        connection.execute(text(f"ALTER TABLE public.alembic_version SET SCHEMA {VERSION_SCHEMA}"))
    connection.commit()


def run_migrations_online() -> None:
    from sqlalchemy import create_engine

    engine = create_engine(
        urls.render(config.attributes["url"]), poolclass=pool.NullPool, hide_parameters=True
    )
    with engine.connect() as connection:
        prepare_version_table(connection)
        context.configure(
            connection=connection, transaction_per_migration=True, version_table_schema=VERSION_SCHEMA
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
