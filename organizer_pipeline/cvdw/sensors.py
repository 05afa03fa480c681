"""`cvdw_changes`: between the 4-hourly runs, ask each endpoint cheaply whether anything changed and load
only what did.

A probe is one request of one row with `a_partir_data_referencia` = one second after the newest
`referencia_data` seen (rows come sorted ascending, so that row is the oldest change); only when something
changed, a second one-row request for the last page gives the newest change. The cursor keeps the newest
`referencia_data` per endpoint; the run covers the days from the oldest to the newest change."""

import hashlib
import json
from datetime import date, datetime, timedelta

import dagster as dg

from organizer_pipeline.cvdw import partitions
from organizer_pipeline.cvdw.assets import empreendimentos, tipologias
from organizer_pipeline.cvdw.endpoints import ENDPOINTS, Endpoint
from organizer_pipeline.cvdw.schedules import cvdw_sync
from organizer_pipeline.resources.cvdw import WIRE_FORMAT, CvdwApi, CvdwClient

DERIVED = {empreendimentos.key: {"unidades", "reservas"}, tipologias.key: {"unidades"}}


def _moment(value: object) -> datetime | None:
    try:
        return datetime.strptime(str(value), WIRE_FORMAT)
    except ValueError:
        return None


def probe(api: CvdwApi, endpoint: Endpoint, last_seen: str | None) -> tuple[datetime, datetime] | None:
    """(oldest, newest) `referencia_data` after `last_seen`, or None when nothing changed."""
    since = _moment(last_seen)
    since = since + timedelta(seconds=1) if since else None
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
    return oldest or newest, newest


def plan(api: CvdwApi, cursor: dict[str, str]) -> tuple[dict[str, str], dict[str, tuple[date, date]]]:
    """The next cursor and, per changed endpoint, the day range to load. An endpoint seen for the first time
    only sets its baseline (the schedule and backfills cover history)."""
    next_cursor = dict(cursor)
    changed: dict[str, tuple[date, date]] = {}
    for endpoint in ENDPOINTS:
        found = probe(api, endpoint, cursor.get(endpoint.name))
        if found is None:
            continue
        oldest, newest = found
        next_cursor[endpoint.name] = newest.strftime(WIRE_FORMAT)
        if endpoint.name in cursor:
            changed[endpoint.name] = (oldest.date(), newest.date())
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
        names = set(changed)
        keys = [dg.AssetKey(name) for name in sorted(names)]
        keys += [key for key, sources in DERIVED.items() if sources & names]
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
