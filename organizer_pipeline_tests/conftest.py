"""Shared fixtures: a real PostgreSQL for every test (the embedded server, or DATABASE_URL's server),
one migrated template database, and a fresh copy of it per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from organizer_pipeline import settings
from organizer_pipeline.db import migrate, urls
from organizer_pipeline.db.embedded import EmbeddedPostgres, free_port

# One template per test session: sessions of several checkouts may share one server (DATABASE_URL).
TEMPLATE_DB = f"organizer_test_template_{uuid.uuid4().hex[:8]}"


def _admin(url: URL) -> Engine:
    return sa.create_engine(
        urls.render(url.set(database="postgres")), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )


def create_database(server_url: URL, name: str, template: str | None = None) -> URL:
    with _admin(server_url).connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    return server_url.set(database=name)


def drop_database(server_url: URL, name: str) -> None:
    from organizer_pipeline.db.engine import _engine

    _engine.cache_clear()  # close pooled connections to it first
    with _admin(server_url).connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[URL]:
    """A server URL (database `postgres`): DATABASE_URL's server if set, else an embedded test server — one
    per pytest-xdist worker (`make test` runs two), each with its own data dir, kept between runs."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield urls.normalize(configured).set(database="postgres")
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    server = EmbeddedPostgres(
        settings.STATE_DIR / f"test-pgdata{'-' + worker if worker else ''}", port=free_port()
    )
    started = server.start()
    try:
        yield urls.normalize(server.url("postgres"))
    finally:
        if started:
            server.stop()


@pytest.fixture(scope="session")
def template_url(pg_server: URL) -> Iterator[URL]:
    url = create_database(pg_server, TEMPLATE_DB)
    migrate.upgrade(url)
    from organizer_pipeline.db.engine import _engine

    _engine.cache_clear()  # a template must have no open connections
    yield url
    drop_database(pg_server, TEMPLATE_DB)


@pytest.fixture
def db_url(pg_server: URL, template_url: URL, monkeypatch: pytest.MonkeyPatch) -> Iterator[URL]:
    """A fresh, migrated warehouse database for one test; DATABASE_URL points at it meanwhile."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_server, name, template=TEMPLATE_DB)
    monkeypatch.setenv("DATABASE_URL", urls.render(url))
    monkeypatch.setenv("DAGSTER_PG_URL", urls.render(pg_server.set(database=f"{name}_dagster")))
    try:
        yield url
    finally:
        drop_database(pg_server, name)


@pytest.fixture
def engine(db_url: URL) -> Engine:
    from organizer_pipeline.db.engine import get_engine

    return get_engine(db_url)
