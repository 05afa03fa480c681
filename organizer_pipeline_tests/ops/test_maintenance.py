from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from organizer_pipeline.definitions import defs
from organizer_pipeline.ops.jobs import audit_log_cleanup_job
from organizer_pipeline.ops.maintenance import cleanup_audit_log


def _add_rows(engine, ages_days):
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text("insert into ops.audit_log (occurred_at, actor, action) values (:at, 'test', :action)"),
            [{"at": now - timedelta(days=age), "action": f"age{age}"} for age in ages_days],
        )


def _remaining(engine):
    with engine.connect() as conn:
        return sorted(
            conn.execute(sa.text("select action from ops.audit_log where actor = 'test'")).scalars()
        )


def test_cleanup_deletes_exactly_the_old_rows_in_batches(engine):
    _add_rows(engine, [0, 1, 29, 31, 31, 45, 90, 400, 29.9])
    deleted = cleanup_audit_log(engine, 30, batch_size=2)  # 5 old rows -> batches of 2, 2, 1
    assert deleted == 5
    assert _remaining(engine) == ["age0", "age1", "age29", "age29.9"]
    assert cleanup_audit_log(engine, 30, batch_size=2) == 0


def test_cleanup_job_reads_retention_and_reports(engine, warehouse, monkeypatch):
    monkeypatch.setenv("AUDIT_LOG_RETENTION_DAYS", "7")
    _add_rows(engine, [1, 6, 8, 20])
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into ops.health_checks (checked_at, check_name, ok) values "
                "(now() - interval '8 days', 'connection', true), (now() - interval '1 day', 'connection', true)"
            )
        )
    result = audit_log_cleanup_job.execute_in_process(resources={"warehouse": warehouse})
    assert result.success and result.output_for_node("delete_old_audit_rows") == 2
    assert _remaining(engine) == ["age1", "age6"]
    assert result.output_for_node("delete_old_audit_rows") == 2
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from ops.health_checks")).scalar() == 1
    with engine.connect() as conn:
        detail = conn.execute(
            sa.text("select detail from ops.audit_log where action = 'audit_log_cleanup'")
        ).scalar_one()
    assert detail == {"deleted": 2, "retention_days": 7}


def test_schedules_are_running_in_sao_paulo_time():
    repo = defs.get_repository_def()
    cleanup = repo.get_schedule_def("audit_log_cleanup")
    assert cleanup.cron_schedule == "0 0 * * *" and cleanup.execution_timezone == "America/Sao_Paulo"
    assert repo.get_schedule_def("db_health").cron_schedule == "0 * * * *"
    for schedule in repo.schedule_defs:
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING, schedule.name
    assert repo.get_sensor_def("run_failure_alerts").default_status == dg.DefaultSensorStatus.RUNNING
