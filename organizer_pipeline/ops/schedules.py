"""When the maintenance jobs run (São Paulo time, like the business). All start RUNNING: a clean-up,
health check or backup that nobody switched on is the classic silent failure."""

import dagster as dg

from organizer_pipeline.ops.jobs import (
    audit_log_cleanup_job,
    backup_job,
    dagster_run_purge_job,
    db_health_job,
)

TIMEZONE = "America/Sao_Paulo"
RUNNING = dg.DefaultScheduleStatus.RUNNING

audit_log_cleanup = dg.ScheduleDefinition(
    name="audit_log_cleanup",
    job=audit_log_cleanup_job,
    cron_schedule="0 0 * * *",
    execution_timezone=TIMEZONE,
    default_status=RUNNING,
    description="Daily at midnight: delete audit rows older than AUDIT_LOG_RETENTION_DAYS.",
)

db_health = dg.ScheduleDefinition(
    name="db_health",
    job=db_health_job,
    cron_schedule="0 * * * *",
    execution_timezone=TIMEZONE,
    default_status=RUNNING,
    description="Hourly: connection, migrations, size, Hotmart inbox backlog, CVDW freshness.",
)

weekly_backup = dg.ScheduleDefinition(
    name="weekly_backup",
    job=backup_job,
    cron_schedule="30 3 * * 0",
    execution_timezone=TIMEZONE,
    default_status=RUNNING,
    description="Sundays 03:30: dump both databases into BACKUP_DIR, keeping the newest BACKUP_KEEP.",
)

dagster_run_purge = dg.ScheduleDefinition(
    name="dagster_run_purge",
    job=dagster_run_purge_job,
    cron_schedule="30 0 * * *",
    execution_timezone=TIMEZONE,
    default_status=RUNNING,
    description="Daily at 00:30: delete successful hotmart_inbox_job runs (and their events) older than "
    "DAGSTER_RUN_RETENTION_DAYS; failures stay.",
)

schedules = [audit_log_cleanup, db_health, weekly_backup, dagster_run_purge]
