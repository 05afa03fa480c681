"""What every benchmark shares: a scratch database, so a benchmark never touches real data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import URL

from organizer_pipeline.db import migrate, urls
from organizer_pipeline.db.engine import _engine, ensure_database, warehouse_url


@contextmanager
def scratch_database(name: str, keep: bool = False) -> Iterator[URL]:
    """A freshly created, migrated database `name` beside the warehouse; dropped afterwards unless `keep`."""
    url = urls.with_database(warehouse_url(), name)
    admin = sa.create_engine(
        urls.render(url.set(database="postgres")), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    drop = sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_it() -> None:
        _engine.cache_clear()  # pooled connections would block the drop
        with admin.connect() as conn:
            conn.execute(drop)

    drop_it()
    ensure_database(url)
    migrate.upgrade(url)
    try:
        yield url
    finally:
        if not keep:
            drop_it()
        admin.dispose()
