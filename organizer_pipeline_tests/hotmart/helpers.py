"""Shared by the hotmart tests: put envelopes in the inbox the way the receiver does, read tables back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from organizer_pipeline.hotmart import inbox
from organizer_pipeline.hotmart.payloads import envelope


def store(engine: Engine, events: list[dict[str, Any]]) -> int:
    """Insert envelopes through the receiver's own write; returns how many were new."""

    async def insert_all() -> int:
        pool = inbox.ConnectionPool(inbox.libpq_dsn(engine.url), size=1)
        try:
            new = 0
            for event in events:
                head = envelope(event)
                new += await inbox.store_event(
                    pool, head.event_id, head.event, head.creation_date, json.dumps(event), event
                )
            return new
        finally:
            pool.close()

    return asyncio.run(insert_all())


def rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(sa.text(sql)).mappings()]


def snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """The final tables, without the columns that record when we wrote them."""
    return {
        "sales": [
            {k: v for k, v in row.items() if k not in ("created_at", "updated_at")}
            for row in rows(engine, "SELECT * FROM hotmart.sales ORDER BY transaction")
        ],
        "contacts": [
            {k: v for k, v in row.items() if k != "updated_at"}
            for row in rows(engine, "SELECT * FROM hotmart.contacts ORDER BY email")
        ],
        "events": [
            {k: v for k, v in row.items() if k != "applied_at"}
            for row in rows(engine, "SELECT * FROM hotmart.events ORDER BY event_id")
        ],
    }
