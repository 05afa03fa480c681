"""Where the databases are, and engines to them that fail with one actionable line."""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from organizer_pipeline import settings
from organizer_pipeline.db import urls
from organizer_pipeline.errors import DatabaseUnavailable, OrganizerError

WAREHOUSE_DB = "organizer"
DAGSTER_DB = "dagster"


def warehouse_url() -> URL:
    """DATABASE_URL, or the embedded server's `organizer` database when it is unset."""
    configured = settings.env("DATABASE_URL")
    if configured:
        return urls.normalize(configured)
    from organizer_pipeline.db.embedded import default_server

    server = default_server()
    if not server.is_running():
        raise DatabaseUnavailable(
            "DATABASE_URL is not set and the embedded PostgreSQL is not running: "
            "start it with `organizer db start` (or `make run`), or set DATABASE_URL"
        )
    return urls.normalize(server.url(WAREHOUSE_DB))


def dagster_url() -> URL:
    """DAGSTER_PG_URL, or database `dagster` on the warehouse's server."""
    configured = settings.env("DAGSTER_PG_URL")
    if configured:
        return urls.normalize(configured)
    return urls.with_database(warehouse_url(), DAGSTER_DB)


@functools.cache
def _engine(rendered_url: str) -> Engine:
    return sa.create_engine(
        rendered_url,
        # SQL errors never print the statement's parameters: they carry personal data (other buyers'
        # e-mails in a batch), and error text ends up in Dagster's event log and in alerts.
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": 5, "application_name": "organizer"},
    )


def get_engine(url: str | URL | None = None) -> Engine:
    """One pooled engine per URL per process."""
    target = urls.normalize(url) if url is not None else warehouse_url()
    return _engine(urls.render(target))


def read_only(engine: Engine) -> Engine:
    """The same engine and pool, but every transaction is READ ONLY (psycopg2 begins it so; the flag is reset
    when the connection goes back to the pool). Readers — dashboard, BI API, MCP, /metrics — use it, so a wrong
    or injected query cannot write even though the app role may. Unlike a startup option
    (`-c default_transaction_read_only=on`) it also works through PgBouncer."""
    return engine.execution_options(postgresql_readonly=True)


def get_reader_engine(url: str | URL | None = None) -> Engine:
    return read_only(get_engine(url))


def explain_connection_error(url: str | URL, error: Exception) -> DatabaseUnavailable:
    """Turn a driver exception into one line saying what failed and what to try."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    lowered = first.lower()
    if "password authentication failed" in lowered or "role" in lowered and "does not exist" in lowered:
        hint = "check the user and password in the URL"
    elif "database" in lowered and "does not exist" in lowered:
        hint = "create the database or fix its name in the URL"
    elif "ssl" in lowered:
        hint = "managed servers usually need ?sslmode=require at the end of the URL"
    elif "could not translate host name" in lowered or "name or service not known" in lowered:
        hint = "the host name does not resolve: check the URL"
    elif "connection refused" in lowered or "timeout" in lowered or "timed out" in lowered:
        hint = "is the server running and reachable from here? check host and port"
    else:
        hint = "check the URL and that the server accepts connections"
    return DatabaseUnavailable(f"cannot connect to {urls.describe(url)}: {first} ({hint})")


# SQLSTATEs of a database that is behind the code: undefined table, schema, column, function.
NOT_MIGRATED = {"42P01", "3F000", "42703", "42883"}


def explain_database_error(error: Exception) -> str:
    """One actionable line for a database error that reached a command or a run: not migrated, cannot
    connect (with the hint of `explain_connection_error`), or the driver's first line; personal data masked."""
    from organizer_pipeline.privacy import redact

    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    first = redact(lines[0]) if lines else type(original).__name__
    code = getattr(original, "pgcode", None)
    if code in NOT_MIGRATED:
        return f"the database is not migrated to this version ({first}): run `organizer db upgrade`"
    if code is None and "OperationalError" in type(original).__name__:  # never connected
        try:
            return str(explain_connection_error(warehouse_url(), error))
        except OrganizerError:
            return f"cannot connect to the database: {first} (check DATABASE_URL)"
    return f"database error: {first}"


def check_connection(url: str | URL | None = None) -> None:
    target = urls.normalize(url) if url is not None else warehouse_url()
    try:
        with get_engine(target).connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.SQLAlchemyError as error:
        raise explain_connection_error(target, error) from None


def ensure_database(url: str | URL) -> bool:
    """Create the URL's database if missing (via the server's `postgres` database); True when created."""
    target = urls.normalize(url)
    admin = target.set(database="postgres")
    try:
        engine = sa.create_engine(
            urls.render(admin),
            isolation_level="AUTOCOMMIT",
            poolclass=sa.pool.NullPool,
            hide_parameters=True,
            connect_args={"connect_timeout": 5},
        )
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("select 1 from pg_database where datname = :name"), {"name": target.database}
            ).scalar()
            if exists:
                return False
            quoted = conn.dialect.identifier_preparer.quote(target.database)
            conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
            return True
    except sa.exc.SQLAlchemyError as error:
        # Managed servers may forbid the maintenance database; the target itself may already exist.
        try:
            check_connection(target)
            return False
        except DatabaseUnavailable:
            raise explain_connection_error(target, error) from None
