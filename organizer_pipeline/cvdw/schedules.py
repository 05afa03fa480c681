"""`cvdw_every_4h`: today's and yesterday's partitions, five times a day, as one run."""

import dagster as dg

from organizer_pipeline.cvdw import partitions
from organizer_pipeline.cvdw.assets import ENDPOINT_ASSETS

cvdw_sync = dg.define_asset_job(
    "cvdw_sync",
    # Only the daily-partitioned endpoint assets: the derived tables (empreendimentos, tipologias, prosoluto) are
    # whole tables that follow them through declarative automation, once after the run.
    selection=dg.AssetSelection.assets(*ENDPOINT_ASSETS),
    partitions_def=partitions.daily,
    description="Read CVDW endpoints for a day range (one run, one date window per endpoint); the derived "
    "tables follow by automation.",
)


@dg.schedule(
    name="cvdw_every_4h",
    job=cvdw_sync,
    cron_schedule="0 6,10,14,18,22 * * *",
    execution_timezone=partitions.TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Yesterday's and today's CVDW partitions (yesterday again: late edits and the unreliable "
    "date filter), one run; unidades also takes today's availability snapshot.",
)
def cvdw_every_4h(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    yesterday, today = partitions.yesterday_and_today(context.scheduled_execution_time)
    return dg.RunRequest(
        run_key=f"cvdw-{context.scheduled_execution_time.isoformat()}",
        tags=partitions.range_tags(partitions.clamp(yesterday), today),
    )
