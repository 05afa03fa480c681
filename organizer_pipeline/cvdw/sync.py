"""Read one endpoint for a date range and upsert it into raw + core: plain functions, no Dagster.

A range is read as few date windows as possible (one per 31 days at most) — with 20 requests/minute every
request counts. Pages are fetched by a thread while the previous page is copied into PostgreSQL, so the
network and the database overlap; nothing holds more than a few pages in memory. Each window is one
transaction: staged by COPY, merged into raw and core, logged in raw.cvdw_sync_windows."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from psycopg2.extras import Json

from organizer_pipeline.cvdw import transform
from organizer_pipeline.cvdw.endpoints import Endpoint
from organizer_pipeline.db.bulk import Stage, UpsertCounts
from organizer_pipeline.resources.cvdw import CvdwApi, Page

MAX_WINDOW_DAYS = 31
PREFETCH_PAGES = 3


@dataclass
class SyncResult:
    rows_fetched: int = 0
    pages: int = 0
    windows: int = 0
    quarantined: int = 0
    raw: UpsertCounts = field(default_factory=UpsertCounts)
    core: UpsertCounts = field(default_factory=UpsertCounts)
    snapshot_rows: int = 0

    def metadata(self, api: CvdwApi, seconds: float) -> dict[str, Any]:
        return {
            "rows_fetched": self.rows_fetched,
            "rows_inserted": self.raw.inserted,
            "rows_updated": self.raw.updated,
            "rows_unchanged": self.raw.unchanged,
            "core_rows_changed": self.core.inserted + self.core.updated,
            "rows_quarantined": self.quarantined,
            "pages": self.pages,
            "date_windows": self.windows,
            "api_calls": api.stats.calls,
            "retries": api.stats.retries,
            "rate_limit_wait_seconds": round(api.stats.rate_limit_wait_seconds, 2),
            "retry_wait_seconds": round(api.stats.retry_wait_seconds, 2),
            "snapshot_rows": self.snapshot_rows,
            "seconds": round(seconds, 2),
            "rows_per_second": round(self.rows_fetched / seconds, 1) if seconds > 0 else None,
        }


def date_windows(first: date, last: date, max_days: int = MAX_WINDOW_DAYS) -> list[tuple[datetime, datetime]]:
    """Inclusive day range → (since, until) windows in the API's local time, each at most `max_days` long."""
    windows = []
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=max_days - 1))
        windows.append(
            (datetime.combine(start, datetime.min.time()), datetime.combine(end, datetime.max.time()))
        )
        start = end + timedelta(days=1)
    return [(since, until.replace(microsecond=0)) for since, until in windows]


def prefetch(pages: Iterator[Page], depth: int = PREFETCH_PAGES) -> Iterator[Page]:
    """Run the page iterator in a thread, `depth` pages ahead; errors surface in the consumer."""
    box: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                if stop.is_set():
                    return
                box.put(page)
            box.put(done)
        except BaseException as error:  # handed to the consumer, re-raised there
            box.put(error)

    thread = threading.Thread(target=produce, name="cvdw-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = box.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                box.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def _quarantine(cur: Any, endpoint: Endpoint, rows: list[tuple[Any, str, dict[str, Any]]]) -> None:
    """Rows that could not be used as they came, with the reason (rare: one statement per row is fine)."""
    for referencia, reason, row in rows:
        cur.execute(
            "INSERT INTO raw.cvdw_quarantine (endpoint, referencia, row_hash, reason, payload) "
            "VALUES (%s, %s, md5(%s), %s, %s) ON CONFLICT (endpoint, row_hash) DO UPDATE SET seen_at = now()",
            (
                endpoint.name,
                None if referencia is None else str(referencia),
                transform.dumps(row),
                reason,
                Json(row),
            ),
        )


def sync_window(
    api: CvdwApi,
    conn: Any,
    endpoint: Endpoint,
    since: datetime | None,
    until: datetime | None,
    *,
    run_id: str | None = None,
    snapshot_day: date | None = None,
    result: SyncResult | None = None,
) -> SyncResult:
    """Read one window (None/None = everything) and merge it, in one transaction on `conn` (DB-API)."""
    result = result or SyncResult()
    stager = transform.PageStager(endpoint)
    stage = Stage(
        conn,
        f"stage_{endpoint.name}",
        transform.stage_columns(endpoint),
        generated=transform.GENERATED,
        uncompressed=["payload"],
    )
    seen = {"total": 0, "pages": 0, "fetched": 0}
    quarantined: list[tuple[Any, str, dict[str, Any]]] = []

    def chunks() -> Iterator[tuple[str, int]]:
        for page in prefetch(api.iter_pages(endpoint.path, since=since, until=until)):
            if seen["pages"] == 0:
                seen["total"] = page.total_rows
            seen["pages"] += 1
            seen["fetched"] += len(page.rows)
            staged = stager.stage(page.rows)
            quarantined.extend(staged.quarantined)
            yield staged.text, staged.rows

    stage.copy_stream(chunks())
    stage.dedupe(["referencia"])
    result.raw += stage.merge(
        endpoint.raw_table,
        transform.RAW_COLUMNS,
        key=["referencia"],
        on_change={"updated_at": "now()", "last_seen_at": "now()"},
    )
    result.core += stage.merge(endpoint.core_table, transform.core_columns(endpoint), key=["referencia"])
    total_reported, pages, fetched = seen["total"], seen["pages"], seen["fetched"]
    with conn.cursor() as cur:
        _quarantine(cur, endpoint, quarantined)
        result.quarantined += len(quarantined)
        if snapshot_day is not None:
            result.snapshot_rows += _snapshot(cur, stage.name, snapshot_day)
        cur.execute(
            "INSERT INTO raw.cvdw_sync_windows (endpoint, window_start, window_end, total_de_registros,"
            " rows_fetched, pages, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (endpoint.name, since, until, total_reported, fetched, pages, run_id),
        )
    conn.commit()
    result.rows_fetched += fetched
    result.pages += pages
    result.windows += 1
    return result


def _snapshot(cur: Any, stage: str, day: date) -> int:
    """Today's availability of every unit (from a full read): VSO needs the stock at past dates."""
    cur.execute(
        f"""
        INSERT INTO core.unidades_situacao_diaria
            (dia, idunidade, idempreendimento, situacao_mapa_disponibilidade, valor)
        SELECT %s, idunidade, idempreendimento, situacao_mapa_disponibilidade, valor
        FROM {stage} WHERE idunidade IS NOT NULL
        ON CONFLICT (dia, idunidade) DO UPDATE SET
            idempreendimento = EXCLUDED.idempreendimento,
            situacao_mapa_disponibilidade = EXCLUDED.situacao_mapa_disponibilidade,
            valor = EXCLUDED.valor
        """,  # noqa: S608 - the stage name is ours
        (day,),
    )
    return cur.rowcount


def sync_range(
    api: CvdwApi,
    engine: Any,
    endpoint: Endpoint,
    first: date,
    last: date,
    *,
    today: date | None = None,
    run_id: str | None = None,
) -> tuple[SyncResult, float]:
    """Read days `first`..`last` (inclusive). An endpoint with a daily snapshot reads everything instead
    when the range includes `today` (a full read covers the window too)."""
    started = time.monotonic()
    result = SyncResult()
    pooled = engine.raw_connection()
    conn = pooled.driver_connection  # psycopg2 itself: COPY and sql.Composed need it
    try:
        if endpoint.full_read_for_snapshot and today is not None and first <= today <= last:
            sync_window(api, conn, endpoint, None, None, run_id=run_id, snapshot_day=today, result=result)
        else:
            for since, until in date_windows(first, last):
                sync_window(api, conn, endpoint, since, until, run_id=run_id, result=result)
    except BaseException:
        conn.rollback()
        raise
    finally:
        pooled.close()
    return result, time.monotonic() - started
