"""The receiver's writes: one committed INSERT per event into hotmart.webhook_inbox, or one into the
quarantine. Plain psycopg2 in autocommit over a small per-process pool: a pooled SQLAlchemy checkout would
add a pre-ping round trip to every request, and the request path must stay one statement."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg2
import psycopg2.extensions
from sqlalchemy.engine import URL, make_url

INSERT_INBOX = (
    "INSERT INTO hotmart.webhook_inbox (event_id, event, creation_date, payload) "
    "VALUES (%s, %s, %s, %s::jsonb) ON CONFLICT (event_id) DO NOTHING RETURNING id"
)
INSERT_QUARANTINE = (
    "INSERT INTO hotmart.webhook_quarantine (source, reason, event_id, body, headers) "
    "VALUES ('webhook', %s, %s, %s, %s::jsonb)"
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


class ConnectionPool:
    """At most `size` autocommit connections, opened on demand and dropped when they break."""

    def __init__(self, dsn: str, size: int = 8, wait_seconds: float = 5.0):
        self.dsn, self.size, self.wait_seconds = dsn, size, wait_seconds
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    def _connect(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.dsn, connect_timeout=5, application_name="organizer-webhook")
        conn.autocommit = True
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise InboxUnavailable("no database connection free")
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                try:
                    conn = self._connect()
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
                self._idle.put(conn)
            self._slots.release()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


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


def store_event(
    pool: ConnectionPool, event_id: str, event: str, created: datetime | None, body: str, document: Any
) -> bool:
    """Insert and commit one envelope; False when its id is already in the inbox. The raw body goes in as
    is; only when PostgreSQL refuses it as jsonb is a cleaned re-serialisation stored instead."""
    with pool.connection() as conn, conn.cursor() as cur:
        try:
            cur.execute(INSERT_INBOX, (event_id, event, created, body))
        except psycopg2.DataError:
            cur.execute(
                INSERT_INBOX, (event_id, event, created, json.dumps(_clean(document), ensure_ascii=False))
            )
        return cur.fetchone() is not None


def quarantine(pool: ConnectionPool, reason: str, event_id: str | None, body: bytes, headers: dict) -> None:
    text = body[:QUARANTINE_BODY_BYTES].decode("utf-8", "replace").replace("\x00", "")
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute(INSERT_QUARANTINE, (reason, event_id, text, json.dumps(_clean(headers))))


def audit_line(pool: ConnectionPool, action: str, detail: dict) -> None:
    """An audit row written from the request path (401/413 only; detail holds no personal data)."""
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute(INSERT_AUDIT, ("webhook", action, None, json.dumps(_clean(detail))))
