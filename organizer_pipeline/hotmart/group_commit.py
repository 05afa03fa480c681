"""Group commit for the receiver: concurrent requests of one worker share one multi-row INSERT.

Each request still gets its 2xx only after ITS row is committed; what is shared is the statement and the
commit (the fsync), which is what bounds a durable write rate. No timer: a flush starts as soon as a row
arrives and a connection is free, so a lone request is written at once and, under load, rows that arrive
while earlier flushes are in flight go out together in the next one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg2

from organizer_pipeline.hotmart import inbox

ROW_SQL = "(%s, %s, %s, %s::jsonb)"
INSERT_MANY = (
    "INSERT INTO hotmart.webhook_inbox (event_id, event, creation_date, payload) VALUES {rows} "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)


@dataclass
class Pending:
    event_id: str
    event: str
    created: datetime | None
    body: str
    document: Any
    done: asyncio.Future


class GroupCommitWriter:
    """`await store(...)` → True when the row is new, False for a repeated id; raises what the write
    raised (InboxUnavailable, psycopg2.DataError for a payload jsonb cannot hold)."""

    def __init__(self, pool: inbox.ConnectionPool, max_batch: int = 200, max_flushes: int = 2):
        # Two writes in flight per worker measured best on a 2-core box (bench webhook): more concurrent
        # commits mean smaller batches and more fsyncs for the same rows.
        self.pool, self.max_batch, self.max_flushes = pool, max_batch, min(max_flushes, pool.size)
        self._waiting: list[Pending] = []
        self._flushers = 0

    async def store(
        self, event_id: str, event: str, created: datetime | None, body: str, document: Any
    ) -> bool:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append(Pending(event_id, event, created, body, document, done))
        self._start_flusher()
        return await asyncio.shield(done)  # a client that goes away must not cancel the others' write

    def _start_flusher(self) -> None:
        if self._waiting and self._flushers < self.max_flushes:
            self._flushers += 1
            asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                await self._write(batch)
        finally:
            self._flushers -= 1
            self._start_flusher()

    async def _write(self, batch: list[Pending]) -> None:
        first: dict[str, Pending] = {}
        for item in batch:
            first.setdefault(item.event_id, item)
        rows = list(first.values())
        try:
            sql = INSERT_MANY.format(rows=", ".join([ROW_SQL] * len(rows)))
            params = [value for r in rows for value in (r.event_id, r.event, r.created, r.body)]
            inserted = {row[0] for row in await self.pool.fetchall(sql, params)}
        except psycopg2.DataError:  # one payload jsonb refuses: write them one by one, each its own fate
            await asyncio.gather(*(self._write_one(item) for item in batch))
            return
        except Exception as error:  # noqa: BLE001 - handed to every waiting request, which answers 503
            for item in batch:
                _settle(item.done, error=error)
            return
        for item in batch:
            _settle(item.done, result=item is first[item.event_id] and item.event_id in inserted)

    async def _write_one(self, item: Pending) -> None:
        try:
            created = await inbox.store_event(
                self.pool, item.event_id, item.event, item.created, item.body, item.document
            )
            _settle(item.done, result=created)
        except Exception as error:  # noqa: BLE001
            _settle(item.done, error=error)


def _settle(future: asyncio.Future, result: bool = False, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
