"""`hotmart_inbox_sensor`: at most one run every 30 s, each taking everything pending up to RUN_BOUND.

Every tick (10 s) looks at the inbox and at this job's runs, and requests a run when events are pending, no
run of the job is queued or running, and the job's last run was requested 30 s ago or more. So the Runs
page gets at most two runs a minute however fast events arrive; the short tick only means that a run
follows as soon as it may (a run that takes long to launch does not push the next one a whole interval
later). An event whose run failed is simply taken by the next run: nothing is remembered as "requested",
so a pending event is retried wherever it is in the inbox. After two or more failed runs in a row the
sensor backs off (1, 2, 4, 8, then 10 minutes), and processing bounds each event's attempts
(processing.MAX_ATTEMPTS), so a cause that lasts does not flood the Runs page or the alerts. The run key
names the newest pending id and the job's last finished run: a new key for every attempt, the same one
for a tick that is evaluated again."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
import sqlalchemy as sa

from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.hotmart.assets import HotmartBatchConfig, hotmart_inbox
from organizer_pipeline.privacy import redact
from organizer_pipeline.resources.warehouse import Warehouse

JOB_NAME = "hotmart_inbox_job"
TICK_SECONDS = 10
RUN_SPACING_SECONDS = 30  # at most one run per this many seconds
# Events one run applies at most (four 500-event transactions). `organizer bench webhook` measured 210
# events/s on the 2-core development machine under heavy load (load average ~14): a full run took 9.7 s, a
# third of the spacing between runs. So a run ends before the next may start, leaves gaps in which the
# enrichment automation sees hotmart_contacts settled, and runs still drain 2,000 events per 30 s (66/s),
# far above a shop's webhook rate. A larger backlog (after an outage) is taken by the following runs, or
# at once by a manual materialization, which has no bound.
RUN_BOUND = 2_000
MAX_BACKOFF_SECONDS = 600
# A run STARTED this long ago is presumed dead (its worker was killed and no run monitor marked it): it no
# longer holds the sensor back. A live one only makes the next run wait on the apply lock.
STUCK_AFTER_SECONDS = 900
WAITING = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED)
RUNNING = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)
FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)

hotmart_inbox_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.assets(*hotmart_inbox.keys),
    description="Apply pending Hotmart webhook events to hotmart.sales and hotmart.contacts.",
    # One small step plus its backlog check: running them in the run's own process avoids starting a
    # process per step, which would dominate a run's time (and the POST→processed delay).
    executor_def=dg.in_process_executor,
)

BACKLOG_SQL = sa.text(
    "SELECT count(*) AS pending, max(id) AS newest, "
    "extract(epoch FROM now() - min(received_at)) AS oldest_age "
    "FROM hotmart.webhook_inbox WHERE processed_at IS NULL"
)


clock = time.time  # now, in seconds (a seam for tests that must not wait out the spacing)


@dataclass(frozen=True)
class RecentRun:
    run_id: str
    status: dg.DagsterRunStatus
    created: float
    started: float | None = None
    ended: float | None = None


def backoff_seconds(failures: int) -> float:
    """Extra wait after `failures` consecutive failed runs: none after one (the next tick retries)."""
    return (
        0.0 if failures <= 1 else float(min(RUN_SPACING_SECONDS * 2 ** (failures - 1), MAX_BACKOFF_SECONDS))
    )


def hold_back(now: float, in_flight: Sequence[RecentRun], finished: Sequence[RecentRun]) -> str | None:
    """Why not to request a run now, or None. `finished` is newest first."""
    for run in in_flight:
        if run.status in WAITING or now - (run.started or run.created) < STUCK_AFTER_SECONDS:
            return f"a {JOB_NAME} run is {run.status.value.lower()}: it takes what is pending"
    last = max((run.created for run in [*in_flight, *finished]), default=None)
    if last is not None and now - last < RUN_SPACING_SECONDS:
        return f"the last run was requested {now - last:.0f} s ago: at most one per {RUN_SPACING_SECONDS} s"
    failures = 0
    for run in finished:
        if run.status != dg.DagsterRunStatus.FAILURE:
            break
        failures += 1
    wait = backoff_seconds(failures)
    if failures and wait:
        since = now - (finished[0].ended or finished[0].created)
        if since < wait:
            return f"backing off after {failures} failed runs: next attempt in {wait - since:.0f} s"
    return None


def _runs(
    instance: dg.DagsterInstance, statuses: Sequence[dg.DagsterRunStatus], limit: int
) -> list[RecentRun]:
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=JOB_NAME, statuses=list(statuses)), limit=limit
    )
    return [
        RecentRun(
            r.dagster_run.run_id,
            r.dagster_run.status,
            r.create_timestamp.timestamp(),
            r.start_time,
            r.end_time,
        )
        for r in records
    ]


@dg.sensor(
    job=hotmart_inbox_job,
    minimum_interval_seconds=TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"At most one run of {JOB_NAME} per {RUN_SPACING_SECONDS} s, applying everything pending "
    f"(≤{RUN_BOUND:,} events per run), retrying failed runs with back-off.",
)
def hotmart_inbox_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse):
    try:
        with warehouse.get_engine().connect() as conn:
            backlog = conn.execute(BACKLOG_SQL).one()
    except (sa.exc.SQLAlchemyError, OrganizerError) as error:
        first = (str(getattr(error, "orig", None) or error).strip().splitlines() or [""])[0]
        return dg.SkipReason(f"warehouse unavailable: {redact(first)}")
    if not backlog.pending:
        return dg.SkipReason("no pending webhook events")
    finished = _runs(context.instance, FINISHED, limit=12)
    reason = hold_back(clock(), _runs(context.instance, (*WAITING, *RUNNING), limit=10), finished)
    if reason:
        return dg.SkipReason(f"{backlog.pending} pending; {reason}")
    after = finished[0].run_id[:8] if finished else "none"
    return dg.RunRequest(
        run_key=f"hotmart-{backlog.newest}-after-{after}",
        run_config=dg.RunConfig(ops={hotmart_inbox.op.name: HotmartBatchConfig(max_events=RUN_BOUND)}),
        tags={
            "hotmart/pending": str(backlog.pending),
            "hotmart/oldest_pending_s": str(round(float(backlog.oldest_age))),
        },
    )
