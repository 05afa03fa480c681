"""Retention: the seed's daily "Log Cleanup" (delete audit rows older than N days), plus the hourly health
results, which would otherwise grow forever. Deletes run in batches so a large backlog never holds one long
lock on the table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

# table -> its timestamp column. Identifiers are code, never input.
RETAINED_TABLES = {"ops.audit_log": "occurred_at", "ops.health_checks": "checked_at"}


def delete_older_than(engine: Engine, table: str, cutoff: datetime, batch_size: int = 5000) -> int:
    """Delete rows of a `RETAINED_TABLES` table older than `cutoff`, one short transaction per batch."""
    column = RETAINED_TABLES[table]
    statement = sa.text(
        f"delete from {table} where id in "  # noqa: S608
        f"(select id from {table} where {column} < :cutoff order by id limit :batch_size)"
    )
    deleted = 0
    while True:
        with engine.begin() as conn:
            batch = conn.execute(statement, {"cutoff": cutoff, "batch_size": batch_size}).rowcount
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
