"""Retention: the seed's daily "Log Cleanup" (delete audit rows older than N days), plus the hourly health
results, which would otherwise grow forever. Deletes run in batches so a large backlog (the first clean-up
of an old table) is many short transactions, never one long one (see `organizer bench ops_cleanup`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

# table -> its timestamp column. Identifiers are code, never input.
RETAINED_TABLES = {"ops.audit_log": "occurred_at", "ops.health_checks": "checked_at"}


def delete_older_than(
    engine: Engine,
    table: str,
    cutoff: datetime,
    batch_size: int = 5000,
    on_batch: Callable[[int, float], None] | None = None,
) -> int:
    """Delete rows of a `RETAINED_TABLES` table older than `cutoff`, one short transaction per batch.
    `on_batch(rows, seconds)` sees each transaction (the benchmark measures the longest lock)."""
    column = RETAINED_TABLES[table]
    statement = sa.text(
        # `= any(array(...))` makes the planner probe the primary key per id; `in (subquery)` may instead
        # hash-join against a full scan of the table on every batch.
        f"delete from {table} where id = any(array("  # noqa: S608
        f"select id from {table} where {column} < :cutoff order by {column} limit :batch_size))"
    )
    deleted = 0
    while True:
        started = time.perf_counter()
        with engine.begin() as conn:
            batch = conn.execute(statement, {"cutoff": cutoff, "batch_size": batch_size}).rowcount
        if on_batch:
            on_batch(batch, time.perf_counter() - started)
        deleted += batch
        if batch < batch_size:
            return deleted


def retention_cutoff(retention_days: int, now: datetime | None = None) -> datetime:
    if retention_days < 1:
        raise ValueError(f"AUDIT_LOG_RETENTION_DAYS must be at least 1, got {retention_days}")
    return (now or datetime.now(UTC)) - timedelta(days=retention_days)


def cleanup_audit_log(
    engine: Engine, retention_days: int, *, batch_size: int = 5000, now: datetime | None = None
) -> int:
    """Delete audit rows older than `retention_days`. Returns the count."""
    return delete_older_than(engine, "ops.audit_log", retention_cutoff(retention_days, now), batch_size)


def cleanup_health_checks(engine: Engine, retention_days: int, *, now: datetime | None = None) -> int:
    return delete_older_than(engine, "ops.health_checks", retention_cutoff(retention_days, now))
