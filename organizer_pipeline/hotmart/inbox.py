"""The receiver's writes: one committed INSERT per event into hotmart.webhook_inbox, or one into the
quarantine. psycopg2 asynchronous connections (always autocommit) driven by the event loop, over a small
per-process pool: no thread hand-off per request and no pre-ping round trip (a pooled SQLAlchemy checkout
would add one), so the request path stays one statement and one round trip."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import psycopg2
import psycopg2.extensions
from sqlalchemy.engine import URL, make_url

INSERT_INBOX = (
    "INSERT INTO hotmart.webhook_inbox (event_id, event, creation_date, payload) "
    "VALUES (%s, %s, %s, %s::jsonb) ON CONFLICT (event_id) DO NOTHING RETURNING id"
)
# The quarantine row and its audit line in one statement (the audit detail holds no body, no e-mail).
INSERT_QUARANTINE = (
    "WITH q AS (INSERT INTO hotmart.webhook_quarantine (source, reason, event_id, body, headers) "
    "VALUES ('webhook', %(reason)s, %(event_id)s, %(body)s, %(headers)s::jsonb) RETURNING id) "
    "INSERT INTO ops.audit_log (actor, action, subject, detail) "
    "SELECT 'webhook', 'hotmart.webhook_quarantined', NULL, "
    "jsonb_build_object('quarantine_id', q.id, 'reason', %(reason)s::text, 'status', %(status)s::int) FROM q"
)
INSERT_AUDIT = "INSERT INTO ops.audit_log (actor, action, subject, detail) VALUES (%s, %s, %s, %s::jsonb)"
QUARANTINE_BODY_BYTES = 64 * 1024


class InboxUnavailable(Exception):
    """The database cannot take the write now: the receiver answers 503 and Hotmart retries."""


def libpq_dsn(url: str | URL) -> str:
    """A SQLAlchemy URL (postgresql+psycopg2://…) as a libpq URI psycopg2.connect accepts."""
    return (
        make_url(str(url) if isinstance(url, str) else url.render_as_string(hide_password=False))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


async def _ready(conn: psycopg2.extensions.connection) -> None:
    """Wait, on the event loop, until the asynchronous connection finished its current operation (raises
    the operation's error, e.g. DataError, as psycopg2 does)."""
    loop = asyncio.get_running_loop()
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        waiter = loop.create_future()
        fd = conn.fileno()
        if state == psycopg2.extensions.POLL_READ:
            loop.add_reader(fd, waiter.set_result, None)
            remove = loop.remove_reader
        else:
            loop.add_writer(fd, waiter.set_result, None)
            remove = loop.remove_writer
        try:
            await waiter
        finally:
            remove(fd)


class ConnectionPool:
    """At most `size` asynchronous connections, opened on demand and dropped when they break."""

    def __init__(self, dsn: str, size: int = 8, wait_seconds: float = 5.0):
        self.dsn, self.size, self.wait_seconds = dsn, size, wait_seconds
        self._idle: list[psycopg2.extensions.connection] = []
        self._slots = asyncio.Semaphore(size)

    async def _connect(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(
            self.dsn, async_=True, connect_timeout=5, application_name="organizer-webhook"
        )
        await _ready(conn)
        return conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg2.extensions.connection]:
        try:
            await asyncio.wait_for(self._slots.acquire(), self.wait_seconds)
        except TimeoutError:
            raise InboxUnavailable("no database connection free") from None
        conn = None
        try:
            try:
                conn = self._idle.pop() if self._idle else await self._connect()
            except psycopg2.Error as error:
                raise InboxUnavailable(first_line(error)) from None
            yield conn
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as error:
            if conn is not None:
                conn.close()
                conn = None
            raise InboxUnavailable(first_line(error)) from None
        finally:
            if conn is not None and not conn.closed:
                self._idle.append(conn)
            self._slots.release()

    async def execute(self, sql: str, params: tuple | dict) -> Any:
        """Run one statement (committed: asynchronous connections are autocommit); the first row."""
        async with self.connection() as conn:
            cur = conn.cursor()
            cur.execute(sql, params)
            await _ready(conn)
            return cur.fetchone() if cur.description else None

    async def fetchall(self, sql: str, params: tuple | list | dict) -> list[tuple]:
        async with self.connection() as conn:
            cur = conn.cursor()
            cur.execute(sql, params)
            await _ready(conn)
            return cur.fetchall()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _clean(value: Any) -> Any:
    """Strings jsonb can store: no NUL, no lone surrogates (Python's JSON accepts both, PostgreSQL not)."""
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    return value


async def store_event(
    pool: ConnectionPool, event_id: str, event: str, created: datetime | None, body: str, document: Any
) -> bool:
    """Insert and commit one envelope; False when its id is already in the inbox. The raw body goes in as
    is; only when PostgreSQL refuses it as jsonb is a cleaned re-serialisation stored instead."""
    try:
        row = await pool.execute(INSERT_INBOX, (event_id, event, created, body))
    except psycopg2.DataError:
        cleaned = json.dumps(_clean(document), ensure_ascii=False)
        row = await pool.execute(INSERT_INBOX, (event_id, event, created, cleaned))
    return row is not None


async def quarantine(
    pool: ConnectionPool, status: int, reason: str, event_id: str | None, body: bytes, headers: dict
) -> None:
    """Keep a refused body (first 64 KiB) with the reason, and its audit line, in one statement."""
    text = body[:QUARANTINE_BODY_BYTES].decode("utf-8", "replace").replace(chr(0), "")
    params = {"reason": reason, "event_id": event_id, "body": text, "headers": json.dumps(_clean(headers))}
    await pool.execute(INSERT_QUARANTINE, {**params, "status": status})


async def audit_line(pool: ConnectionPool, action: str, detail: dict) -> None:
    """An audit row written from the request path (401 only; detail holds no personal data)."""
    await pool.execute(INSERT_AUDIT, ("webhook", action, None, json.dumps(_clean(detail))))
