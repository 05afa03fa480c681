"""Maintenance jobs. These act on the system (delete old audit rows, probe the database, dump it) rather
than produce a data product, so they are op jobs, not assets: an asset would put a fake table into the
lineage graph and invite "materialize" clicks that mean nothing. Each op is a thin wrapper over a plain
function, records what it did as run metadata, and fails the run (visible in the UI, alerted by the
run-failure sensor) when something is wrong."""

import dagster as dg

from organizer_pipeline import settings
from organizer_pipeline.db.engine import dagster_url
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.ops import backup, health, maintenance, run_retention
from organizer_pipeline.ops.audit import audit
from organizer_pipeline.resources.warehouse import Warehouse


@dg.op(description="Delete ops.audit_log (and ops.health_checks) rows older than AUDIT_LOG_RETENTION_DAYS.")
def delete_old_audit_rows(context: dg.OpExecutionContext, warehouse: Warehouse) -> dg.Output[int]:
    engine = warehouse.get_engine()
    days = settings.env_int("AUDIT_LOG_RETENTION_DAYS")
    deleted = maintenance.cleanup_audit_log(engine, days)
    health_rows = maintenance.cleanup_health_checks(engine, days)
    audit(engine, "dagster", "audit_log_cleanup", None, {"deleted": deleted, "retention_days": days})
    context.log.info(f"deleted {deleted} audit rows and {health_rows} health results older than {days} days")
    return dg.Output(
        deleted,
        metadata={"deleted_rows": deleted, "deleted_health_results": health_rows, "retention_days": days},
    )


@dg.op(description="Connection, migrations, size, Hotmart inbox backlog and CVDW freshness of the warehouse.")
def check_database_health(context: dg.OpExecutionContext, warehouse: Warehouse) -> dg.Output[dict]:
    try:
        url = warehouse.get_engine().url
    except OrganizerError as error:
        raise dg.Failure(description=f"connection: {error}") from None
    results = health.run_checks(url)
    try:
        health.record_results(warehouse.get_engine(), results, context.run_id)
    except Exception as error:  # noqa: BLE001 - a down database must still fail with the check results
        context.log.error(f"health results not recorded: {type(error).__name__}")
    metadata = {
        result.name: dg.MetadataValue.text(f"{'ok' if result.ok else 'FAILED'}: {result.detail}")
        for result in results
    }
    failed = health.failures(results)
    if failed:
        raise dg.Failure(
            description="; ".join(f"{result.name}: {result.detail}" for result in failed), metadata=metadata
        )
    context.log.info("all database health checks passed")
    return dg.Output({result.name: result.ok for result in results}, metadata=metadata)


class BackupConfig(dg.Config):
    include_dagster: bool = True


@dg.op(
    description="pg_dump the warehouse (and Dagster's database) into BACKUP_DIR, keep the newest BACKUP_KEEP."
)
def backup_databases(
    context: dg.OpExecutionContext, config: BackupConfig, warehouse: Warehouse
) -> dg.Output[list]:
    dumps, removed = backup.scheduled_backup(
        warehouse.get_engine().url,
        dagster_url() if config.include_dagster else None,
        backup.default_backup_dir(),
        settings.env_int("BACKUP_KEEP"),
    )
    audit(
        warehouse.get_engine(),
        "dagster",
        "backup",
        None,
        {"files": [str(d.path) for d in dumps], "removed": [str(p) for p in removed]},
    )
    metadata = {d.database: dg.MetadataValue.path(str(d.path)) for d in dumps}
    metadata["bytes"] = sum(d.size_bytes for d in dumps)
    metadata["old_files_removed"] = len(removed)
    return dg.Output([str(d.path) for d in dumps], metadata=metadata)


class RunPurgeConfig(dg.Config):
    batch_size: int = run_retention.BATCH_SIZE
    max_runs: int = 100_000  # per purge run: a first purge of a long backlog continues the next day


@dg.op(
    description="Delete successful hotmart_inbox_job runs older than DAGSTER_RUN_RETENTION_DAYS, with their "
    "event logs, in batches; failures and the newest success stay. One audit line says how many."
)
def purge_old_dagster_runs(
    context: dg.OpExecutionContext, config: RunPurgeConfig, warehouse: Warehouse
) -> dg.Output[int]:
    days = settings.env_int("DAGSTER_RUN_RETENTION_DAYS")
    cutoff = run_retention.retention_cutoff(days)
    deleted = {job: 0 for job in run_retention.PURGED_JOBS}
    batches, longest = 0, 0.0
    try:
        for job in run_retention.PURGED_JOBS:
            for batch in run_retention.purge_successful_runs(context.instance, job, cutoff, config.batch_size):
                deleted[job] += batch.deleted
                batches, longest = batches + 1, max(longest, batch.seconds)
                context.log.info(f"{job}: deleted {batch.deleted} runs in {batch.seconds:.1f}s")
                if sum(deleted.values()) >= config.max_runs:
                    break  # the rest is tomorrow's
            if sum(deleted.values()) >= config.max_runs:
                break
    finally:  # a failed or stopped purge still says what it deleted
        audit(
            warehouse.get_engine(),
            "dagster",
            "dagster_run_purge",
            None,
            {"deleted": deleted, "batches": batches, "retention_days": days, "cutoff": cutoff.isoformat()},
        )
    total = sum(deleted.values())
    context.log.info(f"deleted {total} successful runs older than {days} days ({batches} batches)")
    return dg.Output(
        total,
        metadata={
            "deleted_runs": total,
            "batches": batches,
            "longest_batch_seconds": round(longest, 2),
            "retention_days": days,
            "cutoff": cutoff.isoformat(),
        },
    )


@dg.job(description="Audit-log retention (the seed's daily log clean-up).", tags={"domain": "ops"})
def audit_log_cleanup_job():
    delete_old_audit_rows()


@dg.job(description="Hourly warehouse health; fails when any check fails.", tags={"domain": "ops"})
def db_health_job():
    check_database_health()


@dg.job(description="Custom-format dumps of the warehouse and Dagster's database.", tags={"domain": "ops"})
def backup_job():
    backup_databases()


@dg.job(
    description="Dagster's own database: delete old successful Hotmart runs and their events.",
    tags={"domain": "ops"},
)
def dagster_run_purge_job():
    purge_old_dagster_runs()
