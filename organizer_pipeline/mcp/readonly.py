"""The one way MCP tools touch the database: a READ ONLY transaction with a statement timeout, rolled back.

`read_only` opens it through the readers' shared mechanism (`db.engine.read_only`: every transaction begins
READ ONLY), adds the tool's statement timeout and always rolls back. `ReadOnlyDb` lends that transaction to plain functions of other domains that
were written against an Engine (`engine.connect()`), so they run inside it unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from organizer_pipeline.db import engine as db

STATEMENT_TIMEOUT_MS = 5_000
ROW_CAP = 1_000  # most rows any tool answer carries (kpi_query's limit, and every other list)


@contextlib.contextmanager
def read_only(engine: Engine, timeout_ms: int | None = None) -> Iterator[Connection]:
    """A connection inside a READ ONLY transaction with a local statement_timeout, always rolled back:
    PostgreSQL itself refuses any write (INSERT/UPDATE/DELETE/DDL, nextval) made through it."""
    timeout_ms = timeout_ms or STATEMENT_TIMEOUT_MS
    with db.read_only(engine).connect() as conn:
        transaction = conn.begin()
        try:
            conn.execute(
                sa.text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(timeout_ms))}
            )
            yield conn
        finally:
            transaction.rollback()


class ReadOnlyDb:
    """Engine-shaped: `connect()` hands out the tool's read-only transaction (opened on first use).

    `begin()` (a write) is refused unless a `writer` engine is given: only perfis_buscar passes one, for the
    embedding's cost line in ai.llm_calls that the enrichment search records for the daily budget."""

    def __init__(self, engine: Engine, writer: Engine | None = None, timeout_ms: int | None = None):
        self._engine, self._writer, self._timeout_ms = engine, writer, timeout_ms
        self._stack = contextlib.ExitStack()
        self._conn: Connection | None = None

    def __enter__(self) -> ReadOnlyDb:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._stack.enter_context(read_only(self._engine, self._timeout_ms))
        return self._conn

    def execution_options(self, **_: object) -> ReadOnlyDb:
        """Already read-only: readers that ask for `db.engine.read_only(engine)` get this same object."""
        return self

    def connect(self) -> contextlib.nullcontext[Connection]:
        return contextlib.nullcontext(self.connection())

    def begin(self):
        if self._writer is None:
            raise PermissionError("MCP tools are read-only")
        return self._writer.begin()
