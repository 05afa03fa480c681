"""What the enrichment costs when nothing is pending, at a large history (default 1,000,000 Hotmart events and
250,000 contacts, every one profiled and synced): the SQL time of both enrichment assets (`contact_profiles`
+ `brevo_contacts`, run as the assets run them, against the simulators) against the 200 ms target, with the
three pending queries of the previous design (which scanned the history) measured on the same data as the peer.

Runs in a scratch database `organizer_bench_enrichment_idle` on the warehouse's server (created, migrated and
dropped here). Profiles are seeded with 3-number vectors (the column is narrowed in the scratch database):
neither design reads vectors to find pending work, and 250,000 real 1536-number vectors would be 1.5 GB."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from organizer_pipeline.bench.common import scratch_database
from organizer_pipeline.db.engine import get_engine
from organizer_pipeline.enrichment import profiles
from organizer_pipeline.enrichment.brevo_contact import DEFAULT_EVENT_LISTS, parse_rules
from organizer_pipeline.enrichment.brevo_sync import BrevoSync
from organizer_pipeline.enrichment.enrich import build_profiles
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.resources.brevo import BrevoClient
from organizer_pipeline.resources.openrouter import OpenRouterClient
from organizer_pipeline.sandbox import brevo as brevo_sandbox
from organizer_pipeline.sandbox import openrouter as openrouter_sandbox
from organizer_pipeline.sandbox.server import serve_in_thread

BENCH_DB = "organizer_bench_enrichment_idle"
TARGET_MS = 200.0
EMBEDDING_MODEL = "openai/text-embedding-3-small"

# The previous design's pending queries (before the queue), kept here as the peer.
OLD_QUERIES = {
    "profiles": """
        SELECT c.* FROM hotmart.contacts c
        LEFT JOIN ai.contact_profiles p ON p.email = c.email
        WHERE c.facts_hash IS NOT NULL AND p.facts_hash IS DISTINCT FROM c.facts_hash
          AND NOT ai.is_erased(c.email)
          AND NOT EXISTS (
              SELECT 1 FROM ai.llm_calls l
              WHERE l.purpose = 'profile_repair' AND l.status = 'invalid'
                AND l.email_sha256 = ai.email_sha256(c.email) AND l.facts_hash = c.facts_hash)
        ORDER BY c.last_event_at NULLS LAST, c.email
        LIMIT 10000
    """,
    "brevo_contacts": """
        SELECT c.*, p.segment, s.change_hash AS synced_hash, coalesce(s.in_brevo, false) AS in_brevo,
               coalesce(s.list_ids, '{}') AS synced_list_ids
        FROM hotmart.contacts c
        LEFT JOIN ai.contact_profiles p ON p.email = c.email
        LEFT JOIN ai.brevo_sync s ON s.email = c.email
        WHERE c.facts_hash IS NOT NULL AND NOT ai.is_erased(c.email)
          AND (s.email IS NULL OR s.facts_hash IS DISTINCT FROM c.facts_hash OR p.updated_at > s.synced_at)
        ORDER BY c.email
    """,
    "brevo_events": """
        SELECT e.event_id, e.event, e.occurred_at, e.email, e.transaction, e.product_id, e.product_name,
               e.offer_code, e.status, e.price, e.currency
        FROM hotmart.events e
        JOIN ai.brevo_sync s ON s.email = e.email AND s.status = 'synced'
        WHERE NOT EXISTS (SELECT 1 FROM ai.side_effects x
                          WHERE x.subject = 'event:' || e.event_id AND x.action = 'brevo_event')
          AND NOT ai.is_erased(e.email)
        ORDER BY e.occurred_at NULLS FIRST, e.event_id
    """,
}

# Everything profiled and synced: the state of a steady deployment between two Hotmart batches.
SEED = [
    "ALTER TABLE hotmart.contacts DISABLE TRIGGER USER",
    "ALTER TABLE hotmart.events DISABLE TRIGGER USER",
    "ALTER TABLE ai.contact_profiles DISABLE TRIGGER USER",
    "DROP INDEX ai.contact_profiles_embedding_idx",
    "ALTER TABLE ai.contact_profiles ALTER COLUMN embedding TYPE vector(3)",
    """
    INSERT INTO hotmart.contacts (email, first_name, last_name, country, status, last_event, lifetime_value,
                                  lifetime_value_by_currency, products, last_product, facts_hash, first_event_at,
                                  last_event_at)
    SELECT 'c' || n || '@example.com', 'Ana', 'Souza', 'BR', 'CUSTOMER', 'PURCHASE_APPROVED', 97 * (1 + n % 5),
           jsonb_build_object('BRL', 97 * (1 + n % 5)), jsonb_build_array('Curso ' || (n % 7)), 'Curso ' || (n % 7),
           md5(n::text), now() - interval '400 days', now() - (n % 400) * interval '1 day'
    FROM generate_series(1, :contacts) AS n
    """,
    """
    INSERT INTO hotmart.events (event_id, event, occurred_at, email, transaction, product_id, product_name,
                                status, price, currency)
    SELECT 'e' || n, (ARRAY['PURCHASE_BILLET_PRINTED', 'PURCHASE_APPROVED', 'PURCHASE_COMPLETE',
                            'PURCHASE_OUT_OF_SHOPPING_CART'])[1 + n % 4],
           now() - (n % 400) * interval '1 day', 'c' || (1 + n % :contacts) || '@example.com', 'HP' || (n / 4),
           n % 7, 'Curso ' || (n % 7), 'APPROVED', 97, 'BRL'
    FROM generate_series(1, :events) AS n
    """,
    """
    INSERT INTO ai.contact_profiles (email, facts_hash, segment, purchase_intent, churn_risk, profile, summary,
                                     embedding, model, embedding_model, prompt_version, updated_at)
    SELECT email, facts_hash, 'comprador_unico', 'media', 'baixa', '{}'::jsonb, 'Cliente com compra aprovada.',
           '[1,0,0]', 'openai/gpt-4o-mini', :embedding_model, :prompt_version, now() - interval '1 hour'
    FROM hotmart.contacts
    """,
    """
    INSERT INTO ai.brevo_sync (email, change_hash, facts_hash, list_ids, status, in_brevo, synced_at)
    SELECT email, md5(facts_hash), facts_hash, '{2}', 'synced', true, now() FROM hotmart.contacts
    """,
    """
    INSERT INTO ai.llm_calls (purpose, email_sha256, facts_hash, requested_model, model, status, cost_usd)
    SELECT purpose, ai.email_sha256(c.email), c.facts_hash, 'openai/gpt-4o-mini', 'openai/gpt-4o-mini', 'ok',
           0.0004
    FROM hotmart.contacts c CROSS JOIN (VALUES ('profile'), ('embedding')) AS p(purpose)
    """,
    """
    INSERT INTO ai.side_effects (subject, action, email_sha256, status)
    SELECT 'event:' || event_id, 'brevo_event', NULL, 'sent' FROM hotmart.events
    """,
    """
    INSERT INTO ai.side_effects (subject, action, email_sha256, status)
    SELECT 'contact:' || md5(email) || ':' || facts_hash, 'brevo_contact', NULL, 'sent' FROM hotmart.contacts
    """,
    """
    INSERT INTO ops.erasures (email_sha256, requested_by)
    SELECT encode(sha256(convert_to('gone' || n || '@example.com', 'UTF8')), 'hex'), 'bench'
    FROM generate_series(1, 100) AS n
    """,
    "ALTER TABLE hotmart.contacts ENABLE TRIGGER USER",
    "ALTER TABLE hotmart.events ENABLE TRIGGER USER",
    "ALTER TABLE ai.contact_profiles ENABLE TRIGGER USER",
    "TRUNCATE ai.enrichment_queue, ai.brevo_event_queue",
]
ANALYZE = "ANALYZE hotmart.contacts, hotmart.events, ai.contact_profiles, ai.brevo_sync, ai.llm_calls, " + (
    "ai.side_effects, ai.enrichment_queue, ai.brevo_event_queue, ops.erasures"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=1_000_000, help="Hotmart events (default 1,000,000)")
    parser.add_argument("--contacts", type=int, default=250_000, help="contacts (default 250,000)")
    parser.add_argument("--repeat", type=int, default=5, help="idle runs measured (the median is reported)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


@contextmanager
def sql_clock(engine: Engine) -> Iterator[list[float]]:
    """Seconds spent in each statement sent through `engine` meanwhile."""
    spent: list[float] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        spent.append(time.perf_counter() - conn.info["bench_started"].pop())

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        yield spent
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)


def seed(engine: Engine, args: argparse.Namespace) -> float:
    started = time.monotonic()
    params = {
        "contacts": args.contacts,
        "events": args.events,
        "embedding_model": EMBEDDING_MODEL,
        "prompt_version": profiles.PROMPT_VERSION,
    }
    with engine.begin() as conn:
        for statement in SEED:
            text = sa.text(statement)
            conn.execute(text, {k: v for k, v in params.items() if f":{k}" in statement})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(ANALYZE))
    return time.monotonic() - started


def median_ms(measure: Callable[[], float], repeat: int) -> tuple[float, float]:
    """Median and maximum of `repeat` measurements, in milliseconds."""
    values = [measure() * 1000 for _ in range(repeat)]
    return statistics.median(values), max(values)


def run(args: argparse.Namespace) -> int:
    with scratch_database(BENCH_DB) as url, ExitStack() as stack:
        engine = get_engine(url)
        seed_seconds = seed(engine, args)
        llm_app, brevo_app = openrouter_sandbox.create_app(), brevo_sandbox.create_app(rate_limit=0)
        llm_url = stack.enter_context(serve_in_thread(llm_app))
        brevo_url = stack.enter_context(serve_in_thread(brevo_app))
        openrouter = OpenRouterClient(
            api_key="bench",
            base_url=f"{llm_url}/api/v1",
            models="sandbox/primary",
            embedding_model=EMBEDDING_MODEL,
        ).get_api()
        brevo = BrevoClient(api_key="bench", base_url=f"{brevo_url}/v3").get_api()
        rules = parse_rules(DEFAULT_EVENT_LISTS)
        runs: list[dict[str, Any]] = []

        def idle_run() -> float:
            with sql_clock(engine) as spent:
                started = time.perf_counter()
                profiled = build_profiles(engine, openrouter, 5.0)
                synced = BrevoSync(engine, brevo, rules).sync()
                wall = time.perf_counter() - started
            runs.append(
                {"statements": len(spent), "wall_s": wall, "pending": profiled.pending + synced.pending}
            )
            return sum(spent)

        idle_run()  # warm the pool and the caches, as a running deployment has them
        ours, ours_max = median_ms(idle_run, args.repeat)
        if any(r["pending"] for r in runs) or llm_app.state.sim.calls or brevo_app.state.sim.calls:
            raise OrganizerError(f"the benchmark is not idle: {runs[-1]}, outside calls were made")

        def old(query: str) -> Callable[[], float]:
            def measure() -> float:
                with engine.connect() as conn:
                    started = time.perf_counter()
                    conn.execute(sa.text(query)).fetchall()
                    return time.perf_counter() - started

            return measure

        peers = {
            name: median_ms(old(query), max(1, min(args.repeat, 3)))[0] for name, query in OLD_QUERIES.items()
        }
    peer = sum(peers.values())
    figures = {
        "events": args.events,
        "contacts": args.contacts,
        "seed_s": round(seed_seconds, 1),
        "ours_sql_ms": round(ours, 2),
        "ours_sql_max_ms": round(ours_max, 2),
        "ours_wall_ms": round(statistics.median(r["wall_s"] for r in runs[1:]) * 1000, 2),
        "statements_per_idle_run": runs[-1]["statements"],
        "target_ms": TARGET_MS,
        "ratio_to_target": round(ours / TARGET_MS, 4),
        "old_queries_ms": {name: round(ms, 1) for name, ms in peers.items()},
        "old_total_ms": round(peer, 1),
        "speedup": round(peer / ours, 1) if ours else None,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"enrichment with nothing pending, {args.events:,} events / {args.contacts:,} contacts "
        f"(seeded in {seed_seconds:.0f} s), median of {args.repeat} idle runs of both assets:\n"
        f"  ours: {ours:.1f} ms of SQL ({figures['statements_per_idle_run']} statements, max {ours_max:.1f} ms, "
        f"{figures['ours_wall_ms']:.1f} ms wall) = {ours / TARGET_MS:.3f} of the {TARGET_MS:.0f} ms target\n"
        f"  previous design, same data: "
        + " + ".join(f"{name} {ms:.0f} ms" for name, ms in peers.items())
        + f" = {peer:.0f} ms -> ours is {peer / ours:.0f}x faster"
    )
    return 0
