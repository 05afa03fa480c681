"""`hotmart_inbox_sensor`: one run per batch of unprocessed inbox events.

The cursor is the highest inbox id already requested plus the ids requested inside an overlap window
below it: inbox ids are taken when a request starts, so a row can commit after a higher id was already
seen. Each tick rescans that window for pending rows nobody requested yet. The run key is a hash of the
batch's event ids, so a retried tick never launches the same batch twice."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

import dagster as dg
import sqlalchemy as sa

from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.hotmart.assets import HotmartBatchConfig, hotmart_inbox
from organizer_pipeline.resources.warehouse import Warehouse

BATCH_SIZE = 500
MAX_RUNS_PER_TICK = 4
OVERLAP_IDS = 10_000  # ids below the high-water mark rescanned for late commits
STALE_MINUTES = 15  # pending longer than this and below the window: a failed run; request a catch-up

hotmart_inbox_job = dg.define_asset_job(
    "hotmart_inbox_job",
    selection=dg.AssetSelection.assets(*hotmart_inbox.keys),
    description="Apply a batch of Hotmart webhook events to hotmart.sales and hotmart.contacts.",
    # One small step plus its backlog check: running them in the run's own process avoids starting a
    # process per step, which would dominate a run's time (and the POST→processed delay).
    executor_def=dg.in_process_executor,
)


@dataclass
class Cursor:
    hwm: int = 0
    requested: list[list[int]] = field(default_factory=list)  # [lo, hi] id ranges inside the window

    @classmethod
    def load(cls, raw: str | None) -> Cursor:
        try:
            data = json.loads(raw or "{}")
            return cls(int(data.get("hwm", 0)), [[int(lo), int(hi)] for lo, hi in data.get("requested", [])])
        except (ValueError, TypeError, AttributeError):
            return cls()

    def dump(self) -> str:
        return json.dumps({"hwm": self.hwm, "requested": self.requested})

    @property
    def floor(self) -> int:
        return max(self.hwm - OVERLAP_IDS, 0)

    def was_requested(self, row_id: int) -> bool:
        return row_id <= self.floor or any(lo <= row_id <= hi for lo, hi in self.requested)

    def add(self, ids: list[int]) -> None:
        """Remember `ids` as requested: merged ranges, pruned below the window."""
        self.hwm = max([self.hwm, *ids])
        merged: list[list[int]] = []
        for lo, hi in sorted([*self.requested, *([i, i] for i in ids)]):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        self.requested = [[max(lo, self.floor + 1), hi] for lo, hi in merged if hi > self.floor]


def run_key(event_ids: list[str]) -> str:
    return "hotmart-" + hashlib.sha256("\n".join(event_ids).encode()).hexdigest()[:24]


def plan(cursor: Cursor, pending: list[tuple[int, str]]) -> tuple[list[list[tuple[int, str]]], Cursor]:
    """Split not-yet-requested pending rows (id, event_id) into batches; the cursor after requesting them."""
    fresh = [row for row in sorted(pending) if not cursor.was_requested(row[0])]
    fresh = fresh[: BATCH_SIZE * MAX_RUNS_PER_TICK]
    batches = [fresh[i : i + BATCH_SIZE] for i in range(0, len(fresh), BATCH_SIZE)]
    cursor.add([row_id for row_id, _ in fresh])
    return batches, cursor


def _pending_rows(conn: sa.Connection, floor: int) -> list[tuple[int, str]]:
    rows = conn.execute(
        sa.text(
            "SELECT id, event_id FROM hotmart.webhook_inbox WHERE processed_at IS NULL AND id > :floor "
            "ORDER BY id LIMIT :limit"
        ),
        {"floor": floor, "limit": OVERLAP_IDS + BATCH_SIZE * MAX_RUNS_PER_TICK},
    )
    return [(row.id, row.event_id) for row in rows]


def _stale(conn: sa.Connection, floor: int) -> int | None:
    """Highest id of events left pending below the window for a while (their run failed), if any."""
    return conn.execute(
        sa.text(
            "SELECT max(id) FROM hotmart.webhook_inbox WHERE processed_at IS NULL AND id <= :floor "
            "AND received_at < now() - make_interval(mins => :minutes)"
        ),
        {"floor": floor, "minutes": STALE_MINUTES},
    ).scalar()


def _request(batch: list[tuple[int, str]]) -> dg.RunRequest:
    event_ids = [event_id for _, event_id in batch]
    return dg.RunRequest(
        run_key=run_key(event_ids),
        run_config=dg.RunConfig(ops={hotmart_inbox.op.name: HotmartBatchConfig(event_ids=event_ids)}),
        tags={"hotmart/events": str(len(batch)), "hotmart/first_inbox_id": str(batch[0][0])},
    )


@dg.sensor(
    job=hotmart_inbox_job,
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One run of hotmart_inbox_job per batch (≤500) of unprocessed webhook events.",
)
def hotmart_inbox_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SensorResult:
    cursor = Cursor.load(context.cursor)
    try:
        with warehouse.get_engine().connect() as conn:
            pending = _pending_rows(conn, cursor.floor)
            stale = _stale(conn, cursor.floor)
    except (sa.exc.SQLAlchemyError, OrganizerError) as error:
        return dg.SensorResult(skip_reason=f"warehouse unavailable: {str(error).splitlines()[0]}")
    batches, cursor = plan(cursor, pending)
    requests = [_request(batch) for batch in batches]
    if stale is not None:  # everything pending, once per stale high-water mark and hour
        hour = int(time.time() // 3600)
        requests.append(
            dg.RunRequest(run_key=f"hotmart-catchup-{stale}-{hour}", tags={"hotmart/catchup": "true"})
        )
    if not requests:
        return dg.SensorResult(skip_reason="no new webhook events", cursor=cursor.dump())
    return dg.SensorResult(run_requests=requests, cursor=cursor.dump())
