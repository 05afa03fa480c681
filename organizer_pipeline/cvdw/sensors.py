"""`cvdw_changes`: between the 4-hourly runs, ask each endpoint cheaply whether anything changed and load
only what did.

A probe asks for the rows with `a_partir_data_referencia` = the newest `referencia_data` seen (rows come
sorted ascending), `PROBE_ROWS` at a time: while fewer rows than that changed since the last probe, the
one answer holds them all (1 request per endpoint). Otherwise one more request reads a tail page of the
set, sized so it holds at least `TAIL_ROWS` rows, which gives the newest timestamp and how many rows share
it; only when the whole tail shares that second does a third, one-row request count them. The run covers
the days from the oldest to the newest change, for the changed endpoints only.

A tick must end well inside Dagster's 60 s sensor timeout, while its requests wait for the CVDW limit
that every run and process shares: the probes are time-boxed (`TICK_BUDGET_SECONDS`, including those
waits), and the cursor remembers where the round stopped, so the next tick goes on with the endpoints not
yet probed."""

import hashlib
import json
import math
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime

import dagster as dg

from organizer_pipeline.cvdw import partitions
from organizer_pipeline.cvdw.endpoints import ENDPOINTS, Endpoint
from organizer_pipeline.cvdw.schedules import cvdw_sync
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.resources.cvdw import WIRE_FORMAT, CvdwApi, CvdwClient
from organizer_pipeline.resources.http import RateLimitDeadline, RetryPolicy

PROBE_ROWS = 100  # rows per probe page: a quiet endpoint answers in one request
TAIL_ROWS = 20  # a tail page holds at least this many rows (to count the rows at the newest second)
TICK_BUDGET_SECONDS = 40.0  # the whole tick, waits for the shared limit included (Dagster stops it at 60 s)
PROBE_TIMEOUT_SECONDS = 8.0  # per request (connect, then read); no request starts after budget - 2 × this
PROBE_RETRY = RetryPolicy(attempts=2, base_delay=1.0, max_delay=4.0)


def _moment(value: object) -> datetime | None:
    try:
        return datetime.strptime(str(value), WIRE_FORMAT)
    except ValueError:
        return None


@dataclass(frozen=True)
class Probe:
    oldest: datetime  # of the rows at or after `since`
    newest: datetime
    rows: int  # rows at or after `since`
    at_newest: int  # rows at the newest second


def _tail_size(total: int) -> int:
    """A page size whose last page holds at least TAIL_ROWS rows (or is full)."""
    for size in range(PROBE_ROWS, TAIL_ROWS - 1, -1):
        if total % size == 0 or total % size >= TAIL_ROWS:
            return size
    return PROBE_ROWS


def probe(api: CvdwApi, endpoint: Endpoint, since: datetime | None) -> Probe | None:
    """What the rows at or after `since` look like now; None when there are none."""
    first = api.get_page(endpoint.path, 1, since=since, page_size=PROBE_ROWS)
    if not first.rows:
        return None
    tail, whole = first.rows, first.total_pages <= 1
    total = max(first.total_rows, len(first.rows))
    if not whole:
        size = _tail_size(total)
        tail = api.get_page(endpoint.path, math.ceil(total / size), since=since, page_size=size).rows or tail
    newest = _moment(tail[-1].get("referencia_data"))
    if newest is None:
        return None
    at_newest = 0
    for row in reversed(tail):
        if _moment(row.get("referencia_data")) != newest:
            break
        at_newest += 1
    if at_newest == len(tail) and not whole:  # the run of rows at `newest` may start before this page
        at_newest = api.get_page(endpoint.path, 1, since=newest, page_size=1).total_rows or at_newest
    oldest = _moment(first.rows[0].get("referencia_data")) or newest
    return Probe(oldest, newest, total, at_newest)


@dataclass
class Cursor:
    """Per endpoint, the newest `referencia_data` seen and how many rows were at it; and where the current
    round of probes goes on (`next`: the first endpoint the last tick could not probe)."""

    seen: dict[str, list] = field(default_factory=dict)
    next: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> "Cursor":
        data = json.loads(text) if text else {}
        if "seen" not in data:  # the cursor before time-boxing: {endpoint: [newest, rows]}
            return cls(seen=data)
        return cls(seen=data["seen"], next=data.get("next"))

    def dumps(self) -> str:
        return json.dumps({"seen": self.seen, "next": self.next}, sort_keys=True)


@dataclass
class Plan:
    cursor: Cursor
    changed: dict[str, tuple[date, date]]  # endpoint -> days to load
    probed: list[str]
    stopped: str | None = None  # why the round stopped before every endpoint was probed


def _round(start: str | None) -> Sequence[Endpoint]:
    names = [endpoint.name for endpoint in ENDPOINTS]
    at = names.index(start) if start in names else 0
    return [*ENDPOINTS[at:], *ENDPOINTS[:at]]


def plan(api: CvdwApi, cursor: Cursor, latest_start: float | None = None) -> Plan:
    """The next cursor and, per changed endpoint, the day range to load.

    The probe is inclusive (timestamps have one-second resolution, so a row changed in the same second as the
    newest one must not be missed): a newer timestamp or more rows at/after it means something changed. An
    endpoint seen for the first time only sets its baseline (the schedule and backfills cover history).
    No request starts after `latest_start` (monotonic clock): the round stops there, and the cursor's
    `next` says where the next tick goes on. An endpoint is probed whole or not at all."""
    seen = dict(cursor.seen)
    changed: dict[str, tuple[date, date]] = {}
    order = _round(cursor.next)
    probed: list[str] = []
    stopped = None
    for endpoint in order:
        if latest_start is not None and time.monotonic() > latest_start:
            stopped = "tick budget spent"
            break
        previous = seen.get(endpoint.name)
        since = _moment(previous[0]) if previous else None
        try:
            with api.limiter.deadline(latest_start) if latest_start is not None else nullcontext():
                found = probe(api, endpoint, since)
        except RateLimitDeadline as error:  # the shared CVDW limit (or a slow API) ran the budget out
            stopped = f"tick budget: {error}"
            break
        except OrganizerError as error:
            if not probed:
                raise
            stopped = str(error)
            break
        probed.append(endpoint.name)
        if found is None:
            continue
        if previous and (since is None or found.newest > since or found.rows > previous[1]):
            changed[endpoint.name] = (found.oldest.date(), found.newest.date())
        seen[endpoint.name] = [found.newest.strftime(WIRE_FORMAT), found.at_newest]
    next_name = order[len(probed)].name if len(probed) < len(order) else order[0].name
    return Plan(Cursor(seen, next_name), changed, probed, stopped)


@dg.sensor(
    name="cvdw_changes",
    job=cvdw_sync,
    minimum_interval_seconds=30 * 60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Probes each CVDW endpoint (usually 1 request each, within a 40 s budget shared with the runs' "
    "CVDW limit) and loads the changed days of the changed endpoints only.",
)
def cvdw_changes(context: dg.SensorEvaluationContext, cvdw: CvdwClient) -> dg.SensorResult:
    started = time.monotonic()
    api = cvdw.get_api()
    api.timeout, api.retry = PROBE_TIMEOUT_SECONDS, PROBE_RETRY
    result = plan(
        api, Cursor.parse(context.cursor), started + TICK_BUDGET_SECONDS - 2 * PROBE_TIMEOUT_SECONDS
    )
    context.log.info(
        f"probed {len(result.probed)} of {len(ENDPOINTS)} endpoints ({', '.join(result.probed) or 'none'}) "
        f"with {api.stats.calls} requests in {time.monotonic() - started:.1f} s"
        + (f"; stopped: {result.stopped}; next tick starts at {result.cursor.next}" if result.stopped else "")
    )
    next_cursor, changed = result.cursor, result.changed
    requests = []
    if changed:
        keys = [dg.AssetKey(name) for name in sorted(changed)]  # the derived tables follow by automation
        first = partitions.clamp(min(days[0] for days in changed.values()))
        last = partitions.clamp(max(days[1] for days in changed.values()))
        run_key = hashlib.sha256(next_cursor.dumps().encode()).hexdigest()[:16]
        requests.append(
            dg.RunRequest(
                run_key=f"cvdw-changes-{run_key}",
                asset_selection=keys,
                tags=partitions.range_tags(first, max(first, last)),
            )
        )
    skip = None if requests else (f"stopped early: {result.stopped}" if result.stopped else "no changes")
    return dg.SensorResult(run_requests=requests, cursor=next_cursor.dumps(), skip_reason=skip)
