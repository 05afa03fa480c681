"""The run-failure sensor records every failed run and alerts once, retrying, and never crashes."""

import logging

import dagster as dg
import pytest
import sqlalchemy as sa

from organizer_pipeline.ops.alerts import AlertWebhook
from organizer_pipeline.ops.sensors import run_failure_alerts

SECRET = "xkeysib-alert-test-secret-42"


@dg.op
def charge_customer():
    raise RuntimeError(f"Brevo refused maria.silva@example.org with key {SECRET}\nTraceback line 2")


@dg.job
def failing_job():
    charge_customer()


@pytest.fixture
def failed_run(monkeypatch):
    monkeypatch.setenv("BREVO_API_KEY", SECRET)
    with dg.instance_for_test() as instance:
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        yield instance, result


def evaluate(failed_run, resources):
    instance, result = failed_run
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources=resources,
    ).for_run_failure()
    run_failure_alerts(context)
    return result.dagster_run.run_id


def rows(engine, sql):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).all()


def test_failed_run_is_recorded_and_alerted_once_with_retry(failed_run, warehouse, engine, recorder):
    recorder.statuses = [503]  # the first POST fails, the retry succeeds
    resources = {"warehouse": warehouse, "alert_webhook": AlertWebhook(url=f"{recorder.url}/hook")}
    run_id = evaluate(failed_run, resources)
    evaluate(failed_run, resources)  # the same failure seen again: no second alert

    assert len(recorder.calls) == 2  # one 503, one success — for one failed run
    message = recorder.calls[-1]["json"]
    assert message["run_id"] == run_id and message["job"] == "failing_job"
    assert "charge_customer: RuntimeError: Brevo refused m***@e***.org with key ***" in message["text"]
    assert "maria.silva@example.org" not in str(message) and SECRET not in str(message)
    assert "Traceback line 2" not in str(message)
    [failure] = rows(engine, "select run_id, alerted_at, alert_error from ops.run_failures")
    assert failure.run_id == run_id and failure.alerted_at is not None and failure.alert_error is None
    [audit_row] = rows(engine, "select actor, action, subject, detail::text from ops.audit_log")
    assert (audit_row.actor, audit_row.action, audit_row.subject) == ("dagster", "run_failed", "failing_job")
    assert "maria.silva@example.org" not in audit_row.detail and SECRET not in audit_row.detail


def test_unreachable_alert_webhook_never_crashes_the_sensor(failed_run, warehouse, engine, caplog):
    resources = {"warehouse": warehouse, "alert_webhook": AlertWebhook(url="http://127.0.0.1:9/hook")}
    with caplog.at_level(logging.ERROR):
        evaluate(failed_run, resources)
    [failure] = rows(engine, "select alerted_at, alert_error from ops.run_failures")
    assert failure.alerted_at is None and "still failing after 3 attempts" in failure.alert_error


def test_alert_is_sent_even_when_the_warehouse_is_down(failed_run, recorder):
    from organizer_pipeline.db.embedded import free_port
    from organizer_pipeline.resources.warehouse import Warehouse

    dead = Warehouse(database_url=f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/organizer")
    evaluate(failed_run, {"warehouse": dead, "alert_webhook": AlertWebhook(url=f"{recorder.url}/hook")})
    assert len(recorder.calls) == 1


def test_no_webhook_configured_only_records(failed_run, warehouse, engine, monkeypatch):
    monkeypatch.delenv("ALERT_WEBHOOK_URL", raising=False)
    evaluate(failed_run, {"warehouse": warehouse, "alert_webhook": AlertWebhook()})
    assert len(rows(engine, "select 1 from ops.run_failures")) == 1
