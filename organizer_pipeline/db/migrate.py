"""Alembic, driven from code: `organizer db upgrade` and the test fixtures call these.

Migrations run as the application's own role (see docs/operations.md § Database roles): it owns the schemas
it creates and everything in them. What that role may not do — install pgvector, create databases — an admin
does once; when it is missing, the upgrade stops with one line saying who must do what, where.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from organizer_pipeline.db import urls
from organizer_pipeline.db.engine import get_engine
from organizer_pipeline.errors import OrganizerError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
ROLES_DOC = "docs/operations.md § Database roles"
VERSION_SCHEMA = "ops"  # where alembic_version lives (see migrations/env.py)


class MissingPrivilege(OrganizerError):
    """The migrating role lacks something only an admin can give; the message says who runs what, where."""


def alembic_config(url: str | URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = urls.normalize(url)
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("postgresql://x/y")).get_current_head()


def current_revision(url: str | URL) -> str | None:
    with get_engine(url).connect() as conn:
        return MigrationContext.configure(
            conn, opts={"version_table_schema": VERSION_SCHEMA}
        ).get_current_revision()


VECTOR_STATE = sa.text(
    """
    SELECT current_user AS role,
           current_database() AS database,
           (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
           EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') AS installed,
           EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS available,
           coalesce((SELECT bool_or(trusted) FROM pg_available_extension_versions WHERE name = 'vector'), false)
               AND has_database_privilege(current_database(), 'CREATE') AS may_create
    """
)


def check_vector(url: str | URL) -> None:
    """pgvector must be installed in the database, or installable by this role (superuser, or a trusted
    extension and CREATE on the database). Managed servers let only their admin role install it."""
    engine = sa.create_engine(urls.render(url), poolclass=sa.pool.NullPool)  # no connection left behind:
    try:  # the test template database is copied right after migrating
        with engine.connect() as conn:
            state = conn.execute(VECTOR_STATE).mappings().one()
    finally:
        engine.dispose()
    if state["installed"] or (state["available"] and (state["superuser"] or state["may_create"])):
        return
    where = f"in database {state['database']} ({urls.describe(url)})"
    if not state["available"]:
        raise MissingPrivilege(
            f"the server has no pgvector: install it (managed servers: allow the `vector` extension), then an "
            f"admin runs `CREATE EXTENSION vector;` {where} and `organizer db upgrade` runs again"
        )
    raise MissingPrivilege(
        f"extension vector is not installed and role {state['role']} may not install it: an admin (a superuser "
        f"or the managed server's admin role) must run `CREATE EXTENSION vector;` {where}, "
        f"then run `organizer db upgrade` again (see {ROLES_DOC})"
    )


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Idempotent: at head it does nothing."""
    check_vector(url)
    try:
        command.upgrade(alembic_config(url), revision)
    except sa.exc.ProgrammingError as error:
        if getattr(error.orig, "pgcode", None) != "42501":  # insufficient_privilege
            raise
        first = str(error.orig).strip().splitlines()[0]
        raise MissingPrivilege(
            f"migration refused for role {urls.normalize(url).username} on {urls.describe(url)}: {first}; "
            f"the app role needs CONNECT, CREATE and TEMPORARY on its database and must own its schemas "
            f"(see {ROLES_DOC})"
        ) from None


def is_at_head(url: str | URL) -> bool:
    return current_revision(url) == head_revision()
