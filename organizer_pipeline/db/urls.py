"""Database URLs: one driver everywhere, passwords never printed."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

from organizer_pipeline.errors import ConfigError

DRIVER = "postgresql+psycopg2"
MASKED = "***"  # what SQLAlchemy prints instead of a password


def normalize(url: str | URL) -> URL:
    """Force psycopg2: SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3, which dagster-postgres lacks."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception:
        raise ConfigError(
            "DATABASE_URL is not a valid URL: expected postgresql+psycopg2://user:password@host:5432/organizer"
        ) from None
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigError(f"database URL must be PostgreSQL, got {parsed.drivername!r}")
    if parsed.password == MASKED:
        # str(URL) masks the password; passed on, it fails later as a baffling "authentication failed".
        raise ConfigError(
            f"the database URL for {parsed.database} carries the masked password '***': "
            "pass urls.render(url), never str(url)"
        )
    return parsed.set(drivername=DRIVER)


def with_database(url: str | URL, database: str) -> URL:
    return normalize(url).set(database=database)


def render(url: str | URL, *, hide_password: bool = False) -> str:
    return normalize(url).render_as_string(hide_password=hide_password)


def describe(url: str | URL) -> str:
    """Host and database for messages, with the password masked."""
    parsed = normalize(url)
    host = parsed.host or parsed.query.get("host") or "local socket"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.database} on {host}{port}"
