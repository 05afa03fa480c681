"""GET /metrics (Bearer ORGANIZER_API_TOKEN): the workers' counters plus figures read from the warehouse at
scrape time in a read-only transaction — Hotmart inbox backlog, CVDW sync age per endpoint, today's LLM
spend, Brevo calls. A figure whose query fails is left out (and logged); the rest still answer."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator

import psycopg2
import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from organizer_pipeline import settings
from organizer_pipeline.cvdw.endpoints import ENDPOINTS
from organizer_pipeline.enrichment.store import SPENT_TODAY
from organizer_pipeline.web.auth import require_api_token
from organizer_pipeline.web.metrics import instruments

log = logging.getLogger("organizer.metrics")
QUERY_TIMEOUT = "5s"


def _inbox(conn: Connection) -> Iterator[Metric]:
    backlog, oldest = conn.execute(
        sa.text(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(received_at)), 0) "
            "FROM hotmart.webhook_inbox WHERE processed_at IS NULL"
        )
    ).one()
    yield GaugeMetricFamily(
        "organizer_hotmart_inbox_backlog", "Hotmart events stored and not processed yet.", value=backlog
    )
    yield GaugeMetricFamily(
        "organizer_hotmart_inbox_oldest_pending_age_seconds",
        "Age of the oldest unprocessed Hotmart event (0 when none waits).",
        value=float(oldest),
    )


def _cvdw(conn: Connection) -> Iterator[Metric]:
    ages = dict(
        conn.execute(
            sa.text(
                "SELECT endpoint, extract(epoch FROM now() - max(synced_at)) "
                "FROM raw.cvdw_sync_windows GROUP BY endpoint"
            )
        ).all()
    )
    family = GaugeMetricFamily(
        "organizer_cvdw_last_sync_age_seconds",
        "Seconds since each CVDW endpoint was last synced (+Inf: never).",
        labels=["endpoint"],
    )
    for name in sorted({endpoint.name for endpoint in ENDPOINTS} | set(ages)):
        age = ages.get(name)
        family.add_metric([name], math.inf if age is None else float(age))
    yield family


def _llm(conn: Connection) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "organizer_llm_spend_today_usd",
        "OpenRouter spend since midnight in America/Sao_Paulo (ai.llm_calls), as the daily budget counts it.",
        value=float(conn.execute(SPENT_TODAY).scalar_one()),
    )
    yield GaugeMetricFamily(
        "organizer_llm_budget_usd",
        "OPENROUTER_DAILY_BUDGET_USD: profiling stops for the day at this spend.",
        value=settings.env_float("OPENROUTER_DAILY_BUDGET_USD"),
    )


def _brevo(conn: Connection) -> Iterator[Metric]:
    calls = CounterMetricFamily(
        "organizer_brevo_calls",
        "Brevo calls that took effect, by action (the ai.side_effects ledger: a retry is never counted twice).",
        labels=["action"],
    )
    for action, count in conn.execute(
        sa.text(
            "SELECT action, count(*) FROM ai.side_effects WHERE action LIKE 'brevo%' GROUP BY action ORDER BY 1"
        )
    ):
        calls.add_metric([action], count)
    yield calls
    contacts = GaugeMetricFamily(
        "organizer_brevo_contacts",
        "Contacts by their last Brevo sync outcome (ai.brevo_sync).",
        labels=["status"],
    )
    for status, count in conn.execute(
        sa.text("SELECT status, count(*) FROM ai.brevo_sync GROUP BY status ORDER BY 1")
    ):
        contacts.add_metric([status], count)
    yield contacts


FIGURES: tuple[Callable[[Connection], Iterator[Metric]], ...] = (_inbox, _cvdw, _llm, _brevo)


class WarehouseCollector:
    """Read at every scrape: the figures are the warehouse's state, the same for every worker."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        up = 1
        for figure in FIGURES:
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.text(f"SET LOCAL statement_timeout = '{QUERY_TIMEOUT}'"))
                    yield from list(figure(conn))
            except sa.exc.SQLAlchemyError as error:
                first = str(getattr(error, "orig", None) or error).strip().splitlines()
                log.warning(
                    "metrics: %s left out: %s", figure.__name__.strip("_"), first[0] if first else error
                )
                if isinstance(error, sa.exc.OperationalError) and not isinstance(
                    error.orig, psycopg2.errors.QueryCanceled
                ):
                    up = 0
                    break
        yield GaugeMetricFamily(
            "organizer_warehouse_up", "1 when the warehouse answered this scrape's queries.", value=up
        )


def registry(engine: Engine) -> CollectorRegistry:
    scrape = CollectorRegistry()
    if instruments.MULTIPROCESS:
        multiprocess.MultiProcessCollector(scrape)  # every worker's files, added up
    else:
        for metric in instruments.IN_PROCESS:
            scrape.register(metric)
    scrape.register(WarehouseCollector(engine))
    return scrape


@require_api_token
async def metrics(request: Request) -> Response:
    body = await run_in_threadpool(lambda: generate_latest(registry(request.app.state.reader_engine())))
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


routes = [Route("/metrics", metrics, methods=["GET"])]
