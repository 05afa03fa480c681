"""Alembic environment: the URL comes from the caller (see migrate.py), never from a file."""

from alembic import context
from sqlalchemy import pool

from organizer_pipeline.db import urls

config = context.config


def run_migrations_online() -> None:
    from sqlalchemy import create_engine

    engine = create_engine(
        urls.render(config.attributes["url"]), poolclass=pool.NullPool, hide_parameters=True
    )
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
