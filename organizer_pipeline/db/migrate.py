"""Alembic, driven from code: `organizer db upgrade` and the test fixtures call these."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from organizer_pipeline.db import urls
from organizer_pipeline.db.engine import get_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = urls.normalize(url)
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("postgresql://x/y")).get_current_head()


def current_revision(url: str | URL) -> str | None:
    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Idempotent: at head it does nothing."""
    command.upgrade(alembic_config(url), revision)


def is_at_head(url: str | URL) -> bool:
    return current_revision(url) == head_revision()
