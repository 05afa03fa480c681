"""Dagster's own database at production volume: the Hotmart sensor launches thousands of small runs a day, and
every run keeps ~20 events (~25 KB) forever unless someone deletes it. The daily purge deletes successful runs
of the purged jobs older than DAGSTER_RUN_RETENTION_DAYS with their event logs, through Dagster's instance
API (`delete_run` removes the run, its tags and its events). Failures stay: they are what an operator looks
for. The newest success of each job stays too, so the assets it materialized keep a last materialization
even after a quiet month. See `organizer bench dagster_db` for the sizes with and without it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from organizer_pipeline.hotmart.sensors import hotmart_inbox_job

PURGED_JOBS = (hotmart_inbox_job.name,)
BATCH_SIZE = 500
WORKERS = 4  # delete_run opens ~5 connections per run (dagster-postgres does not pool): overlap them


@dataclass(frozen=True)
class Batch:
    job: str
    deleted: int
    seconds: float


def retention_cutoff(retention_days: int, now: datetime | None = None) -> datetime:
    if retention_days < 1:
        raise ValueError(f"DAGSTER_RUN_RETENTION_DAYS must be at least 1, got {retention_days}")
    return (now or datetime.now(UTC)) - timedelta(days=retention_days)


def purge_successful_runs(
    instance: dg.DagsterInstance,
    job_name: str,
    cutoff: datetime,
    batch_size: int = BATCH_SIZE,
    workers: int = WORKERS,
) -> Iterator[Batch]:
    """Delete `job_name`'s successful runs last updated before `cutoff`, oldest first, one batch at a time
    (a batch is one query for run ids, then one `delete_run` per run on `workers` threads: short
    transactions, and a stopped purge keeps what it did). Yields each batch so the caller can count, log
    and stop."""
    successes = dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.SUCCESS])
    newest = instance.get_run_records(filters=successes, limit=1)
    keep = newest[0].dagster_run.run_id if newest else None
    old = dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.SUCCESS], updated_before=cutoff)
    while True:
        records = instance.get_run_records(filters=old, limit=batch_size, ascending=True)
        run_ids = [record.dagster_run.run_id for record in records if record.dagster_run.run_id != keep]
        if not run_ids:
            return
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(instance.delete_run, run_ids))  # list(): re-raises the first failure
        yield Batch(job_name, len(run_ids), time.perf_counter() - started)
        if len(records) < batch_size:
            return
