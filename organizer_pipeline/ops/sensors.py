"""The run-failure sensor: every failed run of this code location goes to the audit log and, when
ALERT_WEBHOOK_URL is set, to the team as a short JSON message."""

import dagster as dg

from organizer_pipeline.ops.alerts import AlertWebhook, FailedRun, dagster_ui_url, handle_failed_run, short_message
from organizer_pipeline.resources.warehouse import Warehouse


@dg.run_failure_sensor(
    name="run_failure_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records each failed run in ops.audit_log / ops.run_failures and posts an alert.",
)
def run_failure_alerts(context: dg.RunFailureSensorContext, warehouse: Warehouse, alert_webhook: AlertWebhook):
    run = context.dagster_run
    failed = FailedRun(
        run_id=run.run_id, job_name=run.job_name, message=short_message(context.failure_event.message)
    )
    outcome = handle_failed_run(warehouse.get_engine, failed, alert_webhook.target(), dagster_ui_url())
    context.log.info(outcome)
