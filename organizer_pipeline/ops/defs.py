"""Dagster definitions of the ops domain: maintenance jobs, their schedules, the run-failure sensor."""

import dagster as dg

from organizer_pipeline.ops.alerts import AlertWebhook
from organizer_pipeline.ops.jobs import (
    audit_log_cleanup_job,
    backup_job,
    dagster_run_purge_job,
    db_health_job,
)
from organizer_pipeline.ops.schedules import schedules
from organizer_pipeline.ops.sensors import run_failure_alerts

defs = dg.Definitions(
    jobs=[audit_log_cleanup_job, db_health_job, backup_job, dagster_run_purge_job],
    schedules=schedules,
    sensors=[run_failure_alerts],
    resources={"alert_webhook": AlertWebhook()},
)
