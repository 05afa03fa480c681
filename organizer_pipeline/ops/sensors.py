"""The run-failure sensor: every failed run of this code location goes to the audit log and, when
ALERT_WEBHOOK_URL is set, to the team as a short JSON message."""

import dagster as dg

from organizer_pipeline.ops.alerts import (
    AlertWebhook,
    FailedRun,
    dagster_ui_url,
    handle_failed_run,
    short_message,
)
from organizer_pipeline.resources.warehouse import Warehouse


def failure_summary(context: dg.RunFailureSensorContext) -> str:
    """The run's failure line plus the first failed step's error (its first line only)."""
    summary = short_message(context.failure_event.message)
    try:
        steps = context.get_step_failure_events()
    except Exception:  # noqa: BLE001 - the event log may be unreachable; the run line is enough then
        steps = []
    for event in steps[:1]:
        error = event.event_specific_data.error if event.event_specific_data else None
        while error is not None and error.cause is not None:  # the user's exception, not Dagster's wrapper
            error = error.cause
        if error is not None:
            summary = f"{summary} {event.step_key}: {short_message(error.message)}"
    return summary


@dg.run_failure_sensor(
    name="run_failure_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records each failed run in ops.audit_log / ops.run_failures and posts an alert.",
)
def run_failure_alerts(
    context: dg.RunFailureSensorContext, warehouse: Warehouse, alert_webhook: AlertWebhook
):
    run = context.dagster_run
    failed = FailedRun(run_id=run.run_id, job_name=run.job_name, message=failure_summary(context))
    outcome = handle_failed_run(warehouse.get_engine, failed, alert_webhook.target(), dagster_ui_url())
    context.log.info(outcome)
