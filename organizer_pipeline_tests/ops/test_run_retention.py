"""The daily purge of Dagster's own database: real hotmart_inbox_job runs in a real PostgreSQL run storage;
old successes go with their events, failures, recent runs and the newest success stay."""

import os
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickStatus

from organizer_pipeline import settings
from organizer_pipeline.db import urls
from organizer_pipeline.db.engine import ensure_database, get_engine
from organizer_pipeline.definitions import defs
from organizer_pipeline.ops.run_retention import purge_successful_runs
from organizer_pipeline_tests.conftest import drop_database

JOB = "hotmart_inbox_job"


@pytest.fixture
def instance(db_url, pg_server):
    """A Dagster instance whose storage is the test's own PostgreSQL database (DAGSTER_PG_URL)."""
    dagster_db = urls.normalize(os.environ["DAGSTER_PG_URL"])
    ensure_database(dagster_db)
    try:
        with dg.instance_for_test(
            overrides={"storage": {"postgres": {"postgres_url": urls.render(dagster_db)}}}
        ) as it:
            yield it
    finally:
        drop_database(pg_server, dagster_db.database)


def event_count(run_ids) -> int:
    with get_engine(os.environ["DAGSTER_PG_URL"]).connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM event_logs WHERE run_id = ANY(:ids)"), {"ids": list(run_ids)}
        ).scalar()


def age(run_ids, days: int) -> None:
    """Make runs look finished `days` ago (the run storage stamps `update_timestamp` with the wall clock)."""
    with get_engine(os.environ["DAGSTER_PG_URL"]).begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE runs SET update_timestamp = update_timestamp - make_interval(days => :days), "
                "create_timestamp = create_timestamp - make_interval(days => :days) WHERE run_id = ANY(:ids)"
            ),
            {"days": days, "ids": list(run_ids)},
        )


def test_purge_deletes_old_successes_with_their_events_and_keeps_failures(
    instance, warehouse, engine, monkeypatch
):
    monkeypatch.setenv("DAGSTER_RUN_RETENTION_DAYS", "30")
    job = defs.resolve_job_def(JOB)
    runs = [job.execute_in_process(instance=instance, resources={"warehouse": warehouse}) for _ in range(4)]
    assert all(run.success for run in runs)
    old, recent = [run.run_id for run in runs[:3]], runs[3].run_id
    failed = instance.create_run_for_job(job_def=job)
    instance.report_run_failed(failed)
    age([*old, failed.run_id], days=40)
    assert event_count(old) > 0

    purge = defs.resolve_job_def("dagster_run_purge_job").execute_in_process(
        instance=instance,
        resources={"warehouse": warehouse},
        run_config={"ops": {"purge_old_dagster_runs": {"config": {"batch_size": 2}}}},
    )
    assert purge.success
    output = purge.output_for_node("purge_old_dagster_runs")
    assert output == 3
    assert all(instance.get_run_by_id(run_id) is None for run_id in old)
    assert event_count(old) == 0
    assert instance.get_run_by_id(failed.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(recent).status == dg.DagsterRunStatus.SUCCESS
    assert event_count([recent]) > 0
    with engine.connect() as conn:
        [detail] = conn.execute(
            sa.text("SELECT detail FROM ops.audit_log WHERE action = 'dagster_run_purge'")
        ).scalars()
    assert detail["deleted"] == {JOB: 3} and detail["batches"] == 2 and detail["retention_days"] == 30

    # The newest success stays even when it is old: its materializations are the assets' latest.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert list(purge_successful_runs(instance, JOB, tomorrow)) == []
    assert instance.get_run_by_id(recent) is not None


def test_tick_retention_in_dagster_yaml_is_what_dagster_reads():
    retention = yaml.safe_load((settings.PROJECT_ROOT / "dagster.yaml").read_text())["retention"]
    with dg.instance_for_test(overrides={"retention": retention}) as it:
        sensor = it.get_tick_retention_settings(InstigatorType.SENSOR)
        schedule = it.get_tick_retention_settings(InstigatorType.SCHEDULE)
    assert sensor[TickStatus.SKIPPED] == 1 and sensor[TickStatus.SUCCESS] == 30
    assert sensor[TickStatus.FAILURE] == 30 and set(schedule.values()) == {90}
