"""Load a company's CVDW history as one Dagster backfill, through the webserver's GraphQL API (what the UI's
*Materialize → backfill* does), so it shows under *Backfills* and runs as one run per range (the single-run
backfill policy).

Only the partitions each endpoint asset is missing are asked for: a second call never re-reads what is loaded,
and a history backfill that is still running is never launched twice."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta

import requests

from organizer_pipeline.cvdw.endpoints import ENDPOINTS
from organizer_pipeline.cvdw.partitions import DAY_FORMAT
from organizer_pipeline.errors import OrganizerError

log = logging.getLogger(__name__)

HISTORY_TAG = "organizer/cvdw_history"

STATUSES = """
query($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    assetPartitionStatuses { ... on TimePartitionStatuses { ranges { startKey endKey status } } }
  }
  partitionBackfillsOrError(status: REQUESTED) {
    ... on PartitionBackfills { results { id tags { key value } } }
  }
}"""

LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey }
  }
}"""

Range = tuple[date, date]


class LocationNotLoaded(OrganizerError):
    """Dagster answers but has not loaded our code location (it is starting, or failed to load)."""


@dataclass(frozen=True)
class HistoryPlan:
    missing: dict[str, list[Range]]  # endpoint asset -> day ranges not materialized yet
    running: str | None  # id of a history backfill still in progress

    @property
    def days(self) -> int:
        return sum((last - first).days + 1 for ranges in self.missing.values() for first, last in ranges)


def _day(key: str) -> date:
    from datetime import datetime

    return datetime.strptime(key, DAY_FORMAT).date()


def missing_ranges(first: date, last: date, loaded: list[Range]) -> list[Range]:
    """The sub-ranges of first..last (inclusive) that no loaded range covers."""
    gaps: list[Range] = []
    cursor = first
    for start, end in sorted(loaded):
        if end < cursor or start > last:
            continue
        if start > cursor:
            gaps.append((cursor, min(start - timedelta(days=1), last)))
        cursor = max(cursor, end + timedelta(days=1))
        if cursor > last:
            break
    if cursor <= last:
        gaps.append((cursor, last))
    return gaps


def _graphql(dagster_url: str, query: str, variables: dict) -> dict:
    try:
        answer = requests.post(
            f"{dagster_url.rstrip('/')}/graphql", json={"query": query, "variables": variables}, timeout=120
        )
        body = answer.json()
    except (requests.RequestException, ValueError) as error:
        raise OrganizerError(
            f"Dagster at {dagster_url} did not answer ({type(error).__name__}): is it up?"
        ) from None
    if body.get("errors"):
        raise OrganizerError(
            f"Dagster refused the request: {body['errors'][0].get('message', body['errors'][0])}"
        )
    return body["data"]


def plan(dagster_url: str, first: date, last: date) -> HistoryPlan:
    keys = [{"path": [endpoint.name]} for endpoint in ENDPOINTS]
    data = _graphql(dagster_url, STATUSES, {"keys": keys})
    running = next(
        (
            backfill["id"]
            for backfill in data["partitionBackfillsOrError"].get("results", [])
            if any(tag["key"] == HISTORY_TAG for tag in backfill["tags"])
        ),
        None,
    )
    if len(data["assetNodes"]) < len(ENDPOINTS):
        raise LocationNotLoaded(
            "the code location organizer_pipeline is not loaded (yet): see Dagster → Deployment"
        )
    missing: dict[str, list[Range]] = {}
    for node in data["assetNodes"]:
        loaded = [
            (_day(span["startKey"]), _day(span["endKey"]))
            for span in node["assetPartitionStatuses"].get("ranges", [])
            if span["status"] in ("MATERIALIZED", "MATERIALIZING")
        ]
        gaps = missing_ranges(first, last, loaded)
        if gaps:
            missing[node["assetKey"]["path"][-1]] = gaps
    return HistoryPlan(missing, running)


def launch(dagster_url: str, missing: dict[str, list[Range]], *, title: str, trigger: str) -> str:
    """One asset backfill of every missing range; returns its id."""
    params = {
        "partitionsByAssets": [
            {
                "assetKey": {"path": [name]},
                "partitions": {
                    "ranges": [
                        {"start": start.strftime(DAY_FORMAT), "end": end.strftime(DAY_FORMAT)}
                        for start, end in ranges
                    ]
                },
            }
            for name, ranges in sorted(missing.items())
        ],
        "title": title,
        "tags": [{"key": HISTORY_TAG, "value": "true"}, {"key": "organizer/trigger", "value": trigger}],
    }
    outcome = _graphql(dagster_url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if outcome["__typename"] != "LaunchBackfillSuccess":
        detail = outcome.get("message") or outcome.get("invalidStepKey") or outcome["__typename"]
        raise OrganizerError(f"Dagster did not launch the CVDW history backfill: {detail}")
    return outcome["backfillId"]


def ensure_history(
    dagster_url: str, first: date, last: date, *, trigger: str, wait_seconds: float = 0.0
) -> str | None:
    """Launch the backfill of what is missing in first..last, unless nothing is or one is already running.
    Returns the id of the backfill launched, or None. `wait_seconds`: how long a webserver that is still
    loading the code location is given."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            found = plan(dagster_url, first, last)
            break
        except LocationNotLoaded:
            if time.monotonic() >= deadline:
                raise
            time.sleep(2.0)
    if found.running:
        log.info("cvdw: history backfill %s is still running: not launched again", found.running)
        return None
    if not found.missing:
        log.info("cvdw: history %s..%s already loaded: no backfill", first, last)
        return None
    backfill = launch(dagster_url, found.missing, title=f"CVDW history {first}..{last}", trigger=trigger)
    log.info(
        "cvdw: history backfill %s launched: %d asset-days missing of %s..%s (see Dagster → Backfills)",
        backfill,
        found.days,
        first,
        last,
    )
    return backfill
