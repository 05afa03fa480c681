"""Read one endpoint for a date range and upsert it into raw + core: plain functions, no Dagster.

What a CVDW user waits for is requests (20 a minute), so a range is read as ONE date window and paged
through: ⌈rows/500⌉ requests, one when it is empty. A window is split only when the API forces it — a 400
or a timeout on its first page, or more pages than one window should hold (`max_window_pages`) — into two
halves (at a day boundary), which are halved again if they fail too. Never by calendar.

Pages are fetched by a thread while earlier pages are copied into PostgreSQL. Whenever the next page is not
there yet (and at least every `checkpoint_pages` pages / `checkpoint_seconds`), the staged rows are merged
into raw and core and the window's checkpoint in raw.cvdw_sync_windows moves on in the same transaction.
Under the real rate limit that is every page, for free (the next page is seconds away). A run that dies
resumes an incomplete window from its last committed page (see `find_checkpoint` for when), so a long
backfill never reads again what it already stored."""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from psycopg2.extras import Json

from organizer_pipeline.cvdw import transform
from organizer_pipeline.cvdw.endpoints import Endpoint
from organizer_pipeline.db.bulk import Stage, UpsertCounts
from organizer_pipeline.resources.cvdw import PAGE_SIZE, CvdwApi, Page
from organizer_pipeline.resources.http import ApiBadRequest, ApiUnavailable

PREFETCH_PAGES = 3
# 1 000 pages = 500 000 rows = 50 minutes at 20 requests/minute: longer than that, positional paging drifts
# with every edit CV makes meanwhile, so such a window is halved.
MAX_WINDOW_PAGES = 1000
CHECKPOINT_PAGES = 20
CHECKPOINT_SECONDS = 5.0
# Pages are positions in the window's sorted rows; the longer a checkpoint waits, the more CV's edits move
# them. Older incomplete checkpoints are abandoned and the window is read from its first page.
RESUME_MAX_AGE = timedelta(hours=24)
PROGRESS_SECONDS = 10.0


@dataclass(frozen=True)
class Window:
    """Inclusive bounds in the API's local time; None/None = everything (a full read)."""

    since: datetime | None
    until: datetime | None

    @classmethod
    def of_days(cls, first: date, last: date) -> Window:
        return cls(
            datetime.combine(first, datetime.min.time()),
            datetime.combine(last, datetime.max.time()).replace(microsecond=0),
        )

    @property
    def days(self) -> int:
        if self.since is None or self.until is None:
            return 0
        return (self.until.date() - self.since.date()).days + 1

    def halves(self) -> tuple[Window, Window]:
        assert self.since is not None and self.days > 1
        first = self.since.date()
        middle = first + timedelta(days=self.days // 2 - 1)
        return Window.of_days(first, middle), Window.of_days(middle + timedelta(days=1), self.until.date())

    def __str__(self) -> str:
        if self.since is None or self.until is None:
            return "everything"
        return f"{self.since.date()}..{self.until.date()}"


@dataclass
class SyncOptions:
    """Per run: who is reading (for checkpoints and checks), how to report progress, the limits."""

    run_id: str | None = None
    root_run_id: str | None = None  # a re-execution of a run shares its root: its finished windows are kept
    log: Callable[[str], None] | None = None
    max_window_pages: int = MAX_WINDOW_PAGES
    checkpoint_pages: int = CHECKPOINT_PAGES
    checkpoint_seconds: float = CHECKPOINT_SECONDS
    resume_max_age: timedelta = RESUME_MAX_AGE
    progress_seconds: float = PROGRESS_SECONDS

    @property
    def root(self) -> str | None:
        return self.root_run_id or self.run_id


@dataclass
class SyncResult:
    rows_fetched: int = 0
    pages: int = 0  # pages read and stored by this run
    pages_total: int = 0  # pages the windows hold, as the API announced them
    pages_resumed: int = 0  # pages an earlier attempt had stored: not requested again
    requests: int = 0  # successful API requests (every page read, and first pages of windows then split)
    windows: int = 0
    windows_resumed: int = 0
    windows_split: int = 0
    commits: int = 0
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
            "pages_total": self.pages_total,
            "pages_resumed": self.pages_resumed,
            "date_windows": self.windows,
            "windows_resumed": self.windows_resumed,
            "windows_split": self.windows_split,
            "commits": self.commits,
            "requests": self.requests,
            "api_calls": api.stats.calls,
            "retries": api.stats.retries,
            "rate_limit_wait_seconds": round(api.stats.rate_limit_wait_seconds, 2),
            "retry_wait_seconds": round(api.stats.retry_wait_seconds, 2),
            "snapshot_rows": self.snapshot_rows,
            "seconds": round(seconds, 2),
            "rows_per_second": round(self.rows_fetched / seconds, 1) if seconds > 0 else None,
        }


class SplitWindow(Exception):
    """The API will not serve this window whole; read its halves instead."""


class Prefetch:
    """Runs a page iterator in a thread, `depth` pages ahead; its errors surface in the consumer.
    `ready()` says whether the next item is already there (the consumer commits while it would wait)."""

    _DONE = object()

    def __init__(self, items: Iterator[Any], depth: int = PREFETCH_PAGES):
        self._box: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(
            target=self._produce, args=(items,), name="cvdw-prefetch", daemon=True
        )
        self._thread.start()

    def _produce(self, items: Iterator[Any]) -> None:
        try:
            for item in items:
                if self._stop.is_set():
                    return
                self._box.put(item)
            self._box.put(self._DONE)
        except BaseException as error:  # handed to the consumer, re-raised there
            self._box.put(error)

    def __iter__(self) -> Prefetch:
        return self

    def __next__(self) -> Any:
        if self._finished:
            raise StopIteration
        item = self._box.get()
        if item is self._DONE:
            self._finished = True
            raise StopIteration
        if isinstance(item, BaseException):
            self._finished = True
            raise item
        return item

    def ready(self) -> bool:
        """A page (or the end) is waiting. Not an error: the pages before it get committed first."""
        with self._box.mutex:
            return bool(self._box.queue) and not isinstance(self._box.queue[0], BaseException)

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                self._box.get_nowait()
            except queue.Empty:
                self._thread.join(timeout=0.05)

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Checkpoint:
    id: int
    pages: int  # pages stored (the next one to read is pages + 1)
    total_rows: int  # what the API said the window held at the last commit
    completed: bool


def _window_params(endpoint: Endpoint, window: Window, options: SyncOptions) -> dict[str, Any]:
    return {
        "endpoint": endpoint.name,
        "since": window.since,
        "until": window.until,
        "age": options.resume_max_age,
        "root": options.root,
    }


def find_checkpoint(conn: Any, endpoint: Endpoint, window: Window, options: SyncOptions) -> Checkpoint | None:
    """The checkpoint this run continues, if any.

    - An incomplete checkpoint of the same endpoint and exactly the same window, committed less than
      `resume_max_age` ago (any run: a killed run, its re-execution, or a new backfill of the same range)
      is resumed from its next page.
    - A finished window of the same root run (a re-execution of a failed run) is not read again.
    - Anything else is read from the first page: a new run always re-reads finished windows, because CV's
      data change (the 4-hourly schedule re-reads yesterday and today on purpose)."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT id, pages, total_de_registros, completed_at IS NOT NULL
            FROM raw.cvdw_sync_windows
            WHERE endpoint = %(endpoint)s
              AND window_start IS NOT DISTINCT FROM %(since)s AND window_end IS NOT DISTINCT FROM %(until)s
              AND ((completed_at IS NULL AND synced_at > now() - %(age)s)
                   OR (completed_at IS NOT NULL AND root_run_id = %(root)s))
            ORDER BY completed_at IS NOT NULL DESC, id DESC
            LIMIT 1
            """,
            _window_params(endpoint, window, options),
        )
        row = cur.fetchone()
    return Checkpoint(*row) if row else None


def split_earlier(conn: Any, endpoint: Endpoint, window: Window, options: SyncOptions) -> bool:
    """Did an attempt this run continues split `window`? Then its halves are read at once (the whole window
    would only fail again, or cost a request to learn its size)."""
    if window.days < 2:
        return False
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT 1 FROM raw.cvdw_sync_windows
            WHERE endpoint = %(endpoint)s AND window_start >= %(since)s AND window_end <= %(until)s
              AND (window_start, window_end) <> (%(since)s, %(until)s)
              AND (root_run_id = %(root)s OR (completed_at IS NULL AND synced_at > now() - %(age)s))
            LIMIT 1
            """,
            _window_params(endpoint, window, options),
        )
        return cur.fetchone() is not None


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


def _splittable(error: Exception) -> bool:
    """A first page the API refused (400) or could not serve in time: maybe the window is too big for it."""
    return isinstance(error, ApiBadRequest) or (isinstance(error, ApiUnavailable) and "Timeout" in str(error))


@dataclass
class _Batch:
    """Pages staged since the last commit."""

    pages: int = 0
    rows: int = 0
    last_page: int = 0  # highest page number staged
    total_rows: int = 0  # the API's count for the window, from the newest page
    total_pages: int = 0  # and its page count
    done: bool = False  # the window's last page is in
    quarantined: list[tuple[Any, str, dict[str, Any]]] = field(default_factory=list)


class _Progress:
    """Pages done / total in the run's log, at most every `every` seconds and when a window is done."""

    def __init__(self, endpoint: Endpoint, options: SyncOptions):
        self.endpoint, self.log, self.every = endpoint, options.log, options.progress_seconds
        self.last = time.monotonic()

    def __call__(self, window: Window, done: int, total: int, rows: int, finished: bool) -> None:
        if self.log is None or (not finished and time.monotonic() - self.last < self.every):
            return
        self.last = time.monotonic()
        state = "done" if finished else "in progress"
        self.log(f"{self.endpoint.name}: window {window}: page {done}/{total} stored, {rows} rows ({state})")


def sync_window(
    api: CvdwApi,
    conn: Any,
    endpoint: Endpoint,
    window: Window,
    options: SyncOptions,
    result: SyncResult,
    *,
    snapshot_day: date | None = None,
    progress: _Progress | None = None,
) -> None:
    """Read one window into raw + core, committing as pages arrive and continuing its checkpoint.
    Raises SplitWindow when the API will not serve the window whole and it can be halved."""
    checkpoint = find_checkpoint(conn, endpoint, window, options)
    if checkpoint is not None and checkpoint.completed:
        result.windows += 1
        result.pages_resumed += checkpoint.pages
        if options.log:
            options.log(f"{endpoint.name}: window {window} was finished by this run's earlier attempt: kept")
        return
    first = checkpoint.pages + 1 if checkpoint else 1
    fresh = checkpoint is None or checkpoint.pages == 0
    pages = api.iter_pages(endpoint.path, since=window.since, until=window.until, first=first)
    try:
        page = next(pages)  # here, not in the fetch thread: its answer decides how to read the window
    except (ApiBadRequest, ApiUnavailable) as error:
        if fresh and window.days > 1 and _splittable(error):
            raise SplitWindow(str(error)) from error
        raise
    result.requests += 1
    if fresh and page.total_pages > options.max_window_pages and window.days > 1:
        raise SplitWindow(f"{page.total_pages} pages, more than {options.max_window_pages} in one window")
    back = 0
    if checkpoint is None:
        checkpoint = _open_checkpoint(conn, endpoint, window, page, options)
    elif checkpoint.pages:
        # Rows that left the window since the checkpoint moved the later ones to lower positions: step back
        # as many pages as that can have moved (the upsert makes rows read twice harmless).
        shrunk = checkpoint.total_rows - page.total_rows
        back = min(checkpoint.pages, math.ceil(shrunk / PAGE_SIZE)) if shrunk > 0 else 0
        result.windows_resumed += 1
        result.pages_resumed += checkpoint.pages - back
        if options.log:
            options.log(
                f"{endpoint.name}: window {window}: resuming at page {first - back} of {page.total_pages}"
                f" ({checkpoint.pages - back} pages stored by an earlier attempt)"
            )
    result.windows += 1
    result.pages_total += max(page.total_pages, first - 1)

    def numbered() -> Iterator[tuple[int, Page]]:
        for number in range(first - back, first):
            earlier = api.get_page(endpoint.path, number, since=window.since, until=window.until)
            result.requests += 1
            yield number, earlier
        yield first, page
        for number, later in enumerate(pages, start=first + 1):
            result.requests += 1
            yield number, later

    stored = checkpoint.pages - back
    with Prefetch(numbered()) as fetched:
        while True:
            batch = _load_batch(conn, endpoint, fetched, options, result, snapshot_day)
            stored = max(stored, batch.last_page)
            with conn.cursor() as cur:
                cur.execute(
                    """
                    UPDATE raw.cvdw_sync_windows SET
                        pages = greatest(pages, %(pages)s), rows_fetched = rows_fetched + %(rows)s,
                        total_de_registros = CASE WHEN %(seen)s THEN %(total)s ELSE total_de_registros END,
                        total_pages = CASE WHEN %(seen)s THEN greatest(%(total_pages)s, %(pages)s)
                                           ELSE total_pages END,
                        run_id = %(run)s,
                        root_run_id = %(root)s, synced_at = now(),
                        completed_at = CASE WHEN %(done)s THEN now() END
                    WHERE id = %(id)s
                    """,
                    {
                        "pages": batch.last_page,
                        "rows": batch.rows,
                        "seen": batch.pages > 0,
                        "total": batch.total_rows,
                        "total_pages": batch.total_pages,
                        "run": options.run_id,
                        "root": options.root,
                        "done": batch.done,
                        "id": checkpoint.id,
                    },
                )
            conn.commit()
            result.commits += 1
            if progress is not None:
                progress(window, stored, max(page.total_pages, stored), result.rows_fetched, batch.done)
            if batch.done:
                return


def _open_checkpoint(
    conn: Any, endpoint: Endpoint, window: Window, page: Page, options: SyncOptions
) -> Checkpoint:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO raw.cvdw_sync_windows (endpoint, window_start, window_end, total_de_registros,"
            " rows_fetched, pages, total_pages, run_id, root_run_id) VALUES (%s, %s, %s, %s, 0, 0, %s, %s, %s)"
            " RETURNING id",
            (endpoint.name, window.since, window.until, page.total_rows, page.total_pages, options.run_id,
             options.root),
        )  # fmt: skip
        (checkpoint_id,) = cur.fetchone()
    conn.commit()
    return Checkpoint(checkpoint_id, 0, page.total_rows, False)


def _load_batch(
    conn: Any,
    endpoint: Endpoint,
    fetched: Prefetch,
    options: SyncOptions,
    result: SyncResult,
    snapshot_day: date | None,
) -> _Batch:
    """Stage pages by ONE COPY until the next page is not there yet (or the batch is big or old enough),
    then merge them into raw and core. The caller commits."""
    batch = _Batch()
    stager = transform.PageStager(endpoint)
    stage = Stage(
        conn,
        f"stage_{endpoint.name}",
        transform.stage_columns(endpoint),
        generated=transform.GENERATED,
        uncompressed=["payload"],
    )
    started = time.monotonic()

    def chunks() -> Iterator[tuple[str, int]]:
        for number, page in fetched:
            batch.pages += 1
            batch.rows += len(page.rows)
            batch.last_page = max(batch.last_page, number)
            batch.total_rows, batch.total_pages = page.total_rows, page.total_pages
            staged = stager.stage(page.rows)
            batch.quarantined.extend(staged.quarantined)
            yield staged.text, staged.rows
            full = batch.pages >= options.checkpoint_pages
            if full or not fetched.ready() or time.monotonic() - started >= options.checkpoint_seconds:
                return
        batch.done = True

    stage.copy_stream(chunks())
    if batch.pages == 0:
        return batch
    stage.dedupe(["referencia"])
    result.raw += stage.merge(
        endpoint.raw_table,
        transform.RAW_COLUMNS,
        key=["referencia"],
        on_change={"updated_at": "now()", "last_seen_at": "now()"},
    )
    result.core += stage.merge(endpoint.core_table, transform.core_columns(endpoint), key=["referencia"])
    with conn.cursor() as cur:
        _quarantine(cur, endpoint, batch.quarantined)
        if snapshot_day is not None:
            result.snapshot_rows += _snapshot(cur, stage.name, snapshot_day)
    result.quarantined += len(batch.quarantined)
    result.rows_fetched += batch.rows
    result.pages += batch.pages
    return batch


def sync_range(
    api: CvdwApi,
    engine: Any,
    endpoint: Endpoint,
    first: date,
    last: date,
    *,
    today: date | None = None,
    options: SyncOptions | None = None,
) -> tuple[SyncResult, float]:
    """Read days `first`..`last` (inclusive) as one window, halved only where the API forces it. An endpoint
    with a daily snapshot reads everything instead when the range includes `today` (a full read covers the
    window too)."""
    options = options or SyncOptions()
    started = time.monotonic()
    result = SyncResult()
    progress = _Progress(endpoint, options)
    pooled = engine.raw_connection()
    conn = pooled.driver_connection  # psycopg2 itself: COPY and sql.Composed need it
    try:
        if endpoint.full_read_for_snapshot and today is not None and first <= today <= last:
            everything = Window(None, None)
            sync_window(
                api, conn, endpoint, everything, options, result, snapshot_day=today, progress=progress
            )
        else:
            pending = [Window.of_days(first, last)]
            while pending:
                window = pending.pop(0)
                try:
                    if split_earlier(conn, endpoint, window, options):
                        raise SplitWindow("an earlier attempt of this run split it")
                    sync_window(api, conn, endpoint, window, options, result, progress=progress)
                except SplitWindow as why:
                    conn.rollback()
                    result.windows_split += 1
                    halves = window.halves()
                    if options.log:
                        options.log(
                            f"{endpoint.name}: window {window} read as {halves[0]} + {halves[1]}: {why}"
                        )
                    pending[:0] = halves
    except BaseException:
        conn.rollback()
        raise
    finally:
        pooled.close()
    return result, time.monotonic() - started
