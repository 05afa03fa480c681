"""`cvdw_changes`: between the 4-hourly runs, ask each endpoint cheaply whether anything changed and load
only what did.

A probe is one request of one row with `a_partir_data_referencia` = the newest `referencia_data` seen (rows
come sorted ascending); when more than one row matches, a second one-row request for the last page gives
the newest. The run covers the days from the oldest to the newest change, for the changed endpoints only."""

import hashlib
import json
from datetime import date, datetime

import dagster as dg

from organizer_pipeline.cvdw import partitions
from organizer_pipeline.cvdw.endpoints import ENDPOINTS, Endpoint
from organizer_pipeline.cvdw.schedules import cvdw_sync
from organizer_pipeline.resources.cvdw import WIRE_FORMAT, CvdwApi, CvdwClient


def _moment(value: object) -> datetime | None:
    try:
        return datetime.strptime(str(value), WIRE_FORMAT)
    except ValueError:
        return None


def probe(api: CvdwApi, endpoint: Endpoint, since: datetime | None) -> tuple[datetime, datetime, int] | None:
    """(oldest, newest `referencia_data`, rows) of the rows at or after `since`; None when there are none."""
    first = api.get_page(endpoint.path, 1, since=since, page_size=1)
    if not first.rows:
        return None
    last = first
    if first.total_pages > 1:
        last = api.get_page(endpoint.path, first.total_pages, since=since, page_size=1)
    oldest = _moment(first.rows[0].get("referencia_data"))
    newest = _moment((last.rows or first.rows)[-1].get("referencia_data"))
    if newest is None:
        return None
    return oldest or newest, newest, first.total_rows


def plan(api: CvdwApi, cursor: dict[str, list]) -> tuple[dict[str, list], dict[str, tuple[date, date]]]:
    """The next cursor and, per changed endpoint, the day range to load.

    The cursor keeps, per endpoint, the newest `referencia_data` seen and how many rows were at or after it.
    The probe is inclusive (timestamps have one-second resolution, so a row changed in the same second as the
    newest one must not be missed): a newer timestamp or more rows at/after it means something changed. An
    endpoint seen for the first time only sets its baseline (the schedule and backfills cover history)."""
    next_cursor = dict(cursor)
    changed: dict[str, tuple[date, date]] = {}
    for endpoint in ENDPOINTS:
        previous = cursor.get(endpoint.name)
        since = _moment(previous[0]) if previous else None
        found = probe(api, endpoint, since)
        if found is None:
            continue
        oldest, newest, rows = found
        if previous and (since is None or newest > since or rows > previous[1]):
            changed[endpoint.name] = (oldest.date(), newest.date())
        if since is None or newest > since:  # count the rows at the new newest, as the next probe will
            rows = (probe(api, endpoint, newest) or found)[2]
        next_cursor[endpoint.name] = [newest.strftime(WIRE_FORMAT), rows]
    return next_cursor, changed


@dg.sensor(
    name="cvdw_changes",
    job=cvdw_sync,
    minimum_interval_seconds=30 * 60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Probes each CVDW endpoint (1-2 one-row requests) and loads the changed days of the changed "
    "endpoints only.",
)
def cvdw_changes(context: dg.SensorEvaluationContext, cvdw: CvdwClient) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    next_cursor, changed = plan(cvdw.get_api(), cursor)
    requests = []
    if changed:
        keys = [dg.AssetKey(name) for name in sorted(changed)]  # the derived tables follow by automation
        first = partitions.clamp(min(days[0] for days in changed.values()))
        last = partitions.clamp(max(days[1] for days in changed.values()))
        run_key = hashlib.sha256(json.dumps(next_cursor, sort_keys=True).encode()).hexdigest()[:16]
        requests.append(
            dg.RunRequest(
                run_key=f"cvdw-changes-{run_key}",
                asset_selection=keys,
                tags=partitions.range_tags(first, max(first, last)),
            )
        )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(next_cursor, sort_keys=True))
