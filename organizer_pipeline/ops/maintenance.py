"""Audit-log retention: the seed's daily "Log Cleanup" (delete rows older than N days), in batches so a
large backlog never holds one long lock on `ops.audit_log`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

DELETE_BATCH = sa.text(
    """
    DELETE FROM ops.audit_log
    WHERE id IN (
        SELECT id FROM ops.audit_log WHERE occurred_at < :cutoff ORDER BY id LIMIT :batch_size
    )
    """
)


def cleanup_audit_log(
    engine: Engine,
    retention_days: int,
    *,
    batch_size: int = 5000,
    now: datetime | None = None,
) -> int:
    """Delete audit rows older than `retention_days`; one short transaction per batch. Returns the count."""
    if retention_days < 1:
        raise ValueError(f"AUDIT_LOG_RETENTION_DAYS must be at least 1, got {retention_days}")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    deleted = 0
    while True:
        with engine.begin() as conn:
            batch = conn.execute(DELETE_BATCH, {"cutoff": cutoff, "batch_size": batch_size}).rowcount
        deleted += batch
        if batch < batch_size:
            return deleted
