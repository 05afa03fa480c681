"""`hotmart_sales` and `hotmart_contacts`: the inbox applied through the sale state machine.

One multi-asset, because both tables (and the inbox's `processed_at` marks) change in the same
transaction per batch. With no run config every pending event is applied, so materializing from the UI or
the CLI always catches up; the sensor's runs set `max_events`, an operator may name `event_ids`."""

from typing import Optional

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from organizer_pipeline import catalog
from organizer_pipeline.hotmart.processing import process_pending
from organizer_pipeline.resources.warehouse import Warehouse

FAILURES_IN_METADATA = 20


class HotmartBatchConfig(dg.Config):
    event_ids: list[str] = Field(
        default_factory=list,
        description="Inbox event ids to apply (failed ones among them are retried); empty = everything pending.",
    )
    batch_size: int = Field(default=500, ge=1, description="Events applied per transaction.")
    max_events: Optional[int] = Field(  # noqa: UP045 - Dagster config fields need Optional on 3.11
        default=None, ge=1, description="At most this many events per run, oldest first; unset = no bound."
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "hotmart_sales",
            group_name="hotmart",
            description="hotmart.sales: one row per purchase.transaction, status after the state machine.",
            kinds={"postgres"},
        ),
        dg.AssetSpec(
            "hotmart_contacts",
            group_name="hotmart",
            description="hotmart.contacts: one row per lower-cased e-mail, with LTV, products, "
            "subscription, club and cart state, and facts_hash.",
            kinds={"postgres"},
        ),
    ],
    # No step retries: a failed run leaves its events pending and the sensor's next tick is the retry.
)
def hotmart_inbox(context: dg.AssetExecutionContext, config: HotmartBatchConfig, warehouse: Warehouse):
    """Apply pending hotmart.webhook_inbox events (everything pending, up to `max_events`)."""
    engine = warehouse.get_engine()
    result = process_pending(
        engine, config.event_ids or None, batch_size=config.batch_size, max_events=config.max_events
    )
    context.log.info(
        "hotmart: %d events (%d applied, %d failed), %d sales and %d contacts rebuilt",
        result.events,
        result.applied,
        result.quarantined,
        result.sales,
        result.contacts,
    )
    failed = [vars(failure) for failure in result.failures[:FAILURES_IN_METADATA]]
    if failed:
        context.log.warning(
            "hotmart: %d event(s) failed and were quarantined (see `organizer hotmart status`): %s",
            result.quarantined,
            "; ".join(f"{f['event_id']}: {f['reason']}" for f in failed[:3]),
        )
    context.instance.add_run_tags(
        context.run_id, {f"hotmart/{k}": str(v) for k, v in result.counts().items()}
    )
    with engine.connect() as conn:
        pending = conn.execute(
            sa.text("SELECT count(*) FROM hotmart.webhook_inbox WHERE processed_at IS NULL")
        ).scalar_one()
        sales, contacts = (catalog.table_metadata(conn, t) for t in ("hotmart.sales", "hotmart.contacts"))
    common = {
        "events": result.events,
        "applied": result.applied,
        "quarantined": result.quarantined,
        "inbox_pending": pending,
    }
    yield dg.MaterializeResult(
        asset_key="hotmart_sales",
        metadata={
            **common,
            "sales_rebuilt": result.sales,
            "event_types": dg.MetadataValue.json(result.event_types),
            "failed_events": dg.MetadataValue.json(failed),
            **sales,
        },
    )
    yield dg.MaterializeResult(
        asset_key="hotmart_contacts", metadata={**common, "contacts_rebuilt": result.contacts, **contacts}
    )


BACKLOG_SQL = """
    SELECT
        count(*) FILTER (WHERE received_at < now() - interval '15 minutes') AS stale,
        count(*) FILTER (WHERE last_error IS NOT NULL) AS failing,
        min(received_at) AS oldest
    FROM hotmart.webhook_inbox WHERE processed_at IS NULL
"""
FAILED_SQL = "SELECT count(*) FROM hotmart.webhook_inbox WHERE failed_at > now() - interval '1 day'"


@dg.asset_check(
    asset="hotmart_sales", description="No webhook event waits more than 15 minutes to be applied."
)
def hotmart_inbox_backlog(warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.get_engine().connect() as conn:
        backlog = conn.execute(sa.text(BACKLOG_SQL)).mappings().one()
        quarantined = conn.execute(
            sa.text(
                "SELECT count(*) FROM hotmart.webhook_quarantine WHERE received_at > now() - interval '1 day'"
            )
        ).scalar_one()
        failed = conn.execute(sa.text(FAILED_SQL)).scalar_one()
    return dg.AssetCheckResult(
        passed=backlog["stale"] == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "pending_over_15_min": backlog["stale"],
            "pending_with_errors": backlog["failing"],
            "oldest_pending": str(backlog["oldest"]),
            "quarantined_last_24h": quarantined,
            "failed_last_24h": failed,
        },
    )
