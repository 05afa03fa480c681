"""The enrichment assets: thin Dagster wrappers around `enrich.build_profiles` and `brevo_sync.BrevoSync`."""

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Optional

import dagster as dg
from pydantic import Field

from organizer_pipeline import catalog
from organizer_pipeline.enrichment.brevo_contact import DEFAULT_EVENT_LISTS, parse_rules, parse_since
from organizer_pipeline.enrichment.brevo_sync import BrevoSync
from organizer_pipeline.enrichment.enrich import build_profiles
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.privacy import redact
from organizer_pipeline.resources.brevo import BrevoClient
from organizer_pipeline.resources.http import ApiUnavailable
from organizer_pipeline.resources.openrouter import OpenRouterClient
from organizer_pipeline.resources.warehouse import Warehouse

# Follow the contacts table: when Hotmart contacts change, profiles follow, then Brevo.
FOLLOW_UPSTREAM = dg.AutomationCondition.eager()


def _one_line(error: BaseException) -> str:
    """What went wrong, without a driver's SQL and parameters (which may hold names or e-mails)."""
    if isinstance(error, OrganizerError):
        return str(error)
    cause = getattr(error, "orig", None) or error
    first = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first}"


def warning_check(name: str, count: int, examples: list[str], label: str) -> dg.AssetCheckResult:
    """A WARN check: red while `count` is not 0, described by its first example."""
    return dg.AssetCheckResult(
        check_name=name,
        passed=count == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=examples[0] if examples else None,
        metadata={label: count, "examples": examples[:5]},
    )


@contextmanager
def failures_without_personal_data() -> Iterator[None]:
    """Whatever stops a step is stored in Dagster's event log and shown in its UI and alerts: it leaves as
    one masked line (e-mails, documents, phones, secrets), with the code path — not the data — as metadata."""
    try:
        yield
    except dg.Failure:
        raise  # ours, already built from masked text
    except Exception as error:
        line = redact(_one_line(error))[:1000]
        frames = "".join(traceback.format_tb(error.__traceback__))
        raise dg.Failure(description=line, metadata={"where": dg.MetadataValue.text(frames + line)}) from None


class ProfilesConfig(dg.Config):
    concurrency: int = Field(default=4, ge=1, le=32, description="Contacts profiled at a time.")
    limit: int = Field(
        default=10_000, ge=1, description="At most this many contacts per run (oldest change first)."
    )


class BrevoSyncConfig(dg.Config):
    event_lists: dict[str, list[str]] = Field(
        default=DEFAULT_EVENT_LISTS,
        description="Hotmart event -> Brevo lists: '+List' joins, '-List' leaves (replayed over the history).",
    )
    concurrency: int = Field(default=4, ge=1, le=32, description="Brevo calls in flight (within 10 req/s).")
    bulk_threshold: int = Field(
        default=200, ge=1, description="This many new contacts or more go through /contacts/import."
    )
    send_events_since: Optional[str] = Field(  # noqa: UP045 - Dagster config fields need Optional on 3.11
        default=None,
        description="ISO date: older Hotmart events are not sent as Brevo events (a first deployment's "
        "history would fire Brevo automations for old purchases). Unset: all.",
    )
    resend_unconfirmed_after_minutes: int = Field(
        default=15,
        ge=0,
        description="An event whose answer was lost is sent again only if Brevo's event list still lacks it "
        "this long after the attempt.",
    )


@dg.asset(
    group_name="enrichment",
    deps=["hotmart_contacts"],
    kinds={"openrouter", "postgres"},
    automation_condition=FOLLOW_UPSTREAM,
    check_specs=[dg.AssetCheckSpec("no_failed_profiles", asset="contact_profiles")],
)
def contact_profiles(
    context: dg.AssetExecutionContext,
    config: ProfilesConfig,
    warehouse: Warehouse,
    openrouter: OpenRouterClient,
) -> dg.MaterializeResult:
    """AI profile (segment, interests, intent, churn risk, next product, pt-BR summary) and its embedding for
    every contact whose facts changed since its last profile (or built with another prompt version or
    embedding model), within the daily OpenRouter budget. A failed profile warns (check
    `no_failed_profiles`) without holding back the Brevo sync; the contact is retried."""
    with failures_without_personal_data():
        budget = openrouter.budget_usd()
        run = build_profiles(
            warehouse.get_engine(),
            openrouter.get_api(),
            budget,
            concurrency=config.concurrency,
            limit=config.limit,
        )
    if run.budget_exhausted:
        context.log.warning(
            f"OpenRouter daily budget of US$ {budget:.2f} reached (US$ {run.metadata()['spent_today_usd']:.4f} "
            f"spent today): {run.skipped_budget} contact(s) left for the next run"
        )
    if run.failed:
        context.log.warning(f"{run.failed} profile(s) failed (recorded in ai.llm_calls): {run.failures[:5]}")
    check = warning_check("no_failed_profiles", run.failed, run.failures, "failed")
    with warehouse.get_engine().connect() as conn:
        table = catalog.table_metadata(conn, "ai.contact_profiles")
    return dg.MaterializeResult(metadata={**run.metadata(), **table}, check_results=[check])


@dg.asset(
    group_name="enrichment",
    deps=["hotmart_contacts", "contact_profiles"],
    kinds={"brevo", "postgres"},
    automation_condition=FOLLOW_UPSTREAM,
    check_specs=[
        dg.AssetCheckSpec("no_rejected_calls", asset="brevo_contacts"),
        dg.AssetCheckSpec(
            "no_unconfirmed_calls",
            asset="brevo_contacts",
            description="Every call sent to Brevo got an answer, or was found in Brevo afterwards.",
        ),
    ],
)
def brevo_contacts(
    context: dg.AssetExecutionContext, config: BrevoSyncConfig, warehouse: Warehouse, brevo: BrevoClient
) -> dg.MaterializeResult:
    """Each changed contact upserted in Brevo once per change, its lists set from `event_lists` per sale, and
    one Brevo custom event per Hotmart event — never twice, never for a contact erased on request."""
    with failures_without_personal_data():
        sync = BrevoSync(
            warehouse.get_engine(),
            brevo.get_api(),
            parse_rules(config.event_lists),
            concurrency=config.concurrency,
            bulk_threshold=config.bulk_threshold,
            events_since=parse_since(config.send_events_since),
            resend_unconfirmed_after=timedelta(minutes=config.resend_unconfirmed_after_minutes),
        )
        try:
            run = sync.sync()
        except ApiUnavailable as error:
            done = sync.run.metadata()
            raise dg.Failure(
                description=f"{error} — progress so far is kept ({done}); re-execute to continue, nothing "
                "already sent will be sent again",
                metadata=done,
            ) from error
    if run.failures:
        context.log.warning(f"Brevo rejected {len(run.failures)} call(s): {run.failures[:5]}")
    if run.doubts:
        context.log.warning(f"{len(run.doubts)} Brevo call(s) without a confirmed outcome: {run.doubts[:5]}")
    stats = sync.api.stats
    rejected = warning_check("no_rejected_calls", len(run.failures), run.failures, "rejected")
    unconfirmed = warning_check("no_unconfirmed_calls", run.unconfirmed_total, run.doubts, "unconfirmed")
    with warehouse.get_engine().connect() as conn:
        table = catalog.table_metadata(conn, "ai.brevo_sync")
    return dg.MaterializeResult(
        metadata={
            **run.metadata(),
            **table,
            "brevo_calls": stats.calls,
            "brevo_retries": stats.retries,
            "rate_limit_wait_seconds": round(stats.rate_limit_wait_seconds, 3),
        },
        check_results=[rejected, unconfirmed],
    )
