"""Contacts enriched per minute end to end (profile + embedding + Brevo upsert + custom event) against the
simulators with realistic latency, with and without concurrency, compared with Brevo's 10 requests/s.

Runs in a scratch database `organizer_bench_enrichment` on the warehouse's server (created, migrated and
dropped here), so the warehouse itself is never touched."""

from __future__ import annotations

import argparse
import json
import time
from contextlib import ExitStack

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from organizer_pipeline.bench.common import scratch_database
from organizer_pipeline.db.engine import get_engine
from organizer_pipeline.enrichment.brevo_contact import DEFAULT_EVENT_LISTS, parse_rules
from organizer_pipeline.enrichment.brevo_sync import BrevoSync
from organizer_pipeline.enrichment.enrich import build_profiles
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.resources.brevo import BREVO_REQUESTS_PER_SECOND, BrevoClient
from organizer_pipeline.resources.openrouter import OpenRouterClient
from organizer_pipeline.sandbox import brevo as brevo_sandbox
from organizer_pipeline.sandbox import openrouter as openrouter_sandbox
from organizer_pipeline.sandbox.server import serve_in_thread

BENCH_DB = "organizer_bench_enrichment"
RESET = sa.text(
    "TRUNCATE ai.contact_profiles, ai.llm_calls, ai.side_effects, ai.brevo_sync, hotmart.contacts, hotmart.events"
)
SEED_CONTACTS = sa.text(
    """
    INSERT INTO hotmart.contacts (email, first_name, last_name, phone, country, status, last_event,
                                  lifetime_value, products, last_product, facts_hash, last_event_at)
    SELECT 'bench' || n || '@example.com', 'Ana', 'Souza', '1199999' || lpad(n::text, 4, '0'), 'BR', 'APPROVED',
           'PURCHASE_APPROVED', 97 * (1 + n % 5), jsonb_build_array('Curso ' || (n % 7)), 'Curso ' || (n % 7),
           md5(n::text), now()
    FROM generate_series(1, :n) AS n
    """
)
SEED_EVENTS = sa.text(
    """
    INSERT INTO hotmart.events (event_id, event, occurred_at, email, transaction, product_id, product_name, status,
                                price, currency)
    SELECT 'bench-' || n, 'PURCHASE_APPROVED', now(), 'bench' || n || '@example.com', 'HP' || n, n % 7,
           'Curso ' || (n % 7), 'APPROVED', 97, 'BRL'
    FROM generate_series(1, :n) AS n
    """
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--contacts", type=int, default=60, help="contacts per mode (default 60)")
    parser.add_argument("--concurrency", type=int, default=8, help="worker threads when concurrency is on")
    parser.add_argument("--llm-latency", type=float, default=0.2, help="simulated chat latency, seconds")
    parser.add_argument("--brevo-latency", type=float, default=0.05, help="simulated Brevo latency, seconds")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def one_mode(engine: Engine, args: argparse.Namespace, concurrency: int) -> dict[str, float]:
    with engine.begin() as conn:
        conn.execute(RESET)
        conn.execute(SEED_CONTACTS, {"n": args.contacts})
        conn.execute(SEED_EVENTS, {"n": args.contacts})
    with ExitStack() as stack:
        llm_app = openrouter_sandbox.create_app(latency=args.llm_latency)
        brevo_app = brevo_sandbox.create_app(latency=args.brevo_latency, rate_limit=BREVO_REQUESTS_PER_SECOND)
        llm_url = stack.enter_context(serve_in_thread(llm_app))
        brevo_url = stack.enter_context(serve_in_thread(brevo_app))
        openrouter = OpenRouterClient(api_key="bench", base_url=f"{llm_url}/api/v1", models="sandbox/primary")
        brevo = BrevoClient(api_key="bench", base_url=f"{brevo_url}/v3").get_api()
        started = time.monotonic()
        profiles = build_profiles(engine, openrouter.get_api(), 1000.0, concurrency=concurrency)
        profiled_at = time.monotonic()
        # bulk import off: measure the per-contact path, the one that meets Brevo's limit
        sync = BrevoSync(
            engine, brevo, parse_rules(DEFAULT_EVENT_LISTS), concurrency=concurrency, bulk_threshold=10**9
        )
        synced = sync.sync()
        finished = time.monotonic()
    if profiles.profiled != args.contacts or synced.created != args.contacts:
        raise OrganizerError(f"the benchmark lost work: {profiles.metadata()} / {synced.metadata()}")
    brevo_seconds = finished - profiled_at
    brevo_calls = brevo.stats.calls
    return {
        "contacts_per_minute": args.contacts / (finished - started) * 60,
        "profile_phase_s": profiled_at - started,
        "brevo_phase_s": brevo_seconds,
        "brevo_calls": brevo_calls,
        "brevo_rps": brevo_calls / brevo_seconds,
        "brevo_429": brevo_app.state.sim.rejected_for_rate,
    }


def run(args: argparse.Namespace) -> int:
    with scratch_database(BENCH_DB) as url:
        engine = get_engine(url)
        figures = {
            "sequential": one_mode(engine, args, 1),
            f"concurrency_{args.concurrency}": one_mode(engine, args, args.concurrency),
        }
    calls_per_contact = figures["sequential"]["brevo_calls"] / args.contacts
    ceiling = BREVO_REQUESTS_PER_SECOND * 60 / calls_per_contact
    if args.json:
        print(json.dumps({"figures": figures, "brevo_bound_contacts_per_minute": ceiling}, indent=2))
        return 0
    print(
        f"enrichment end to end: {args.contacts} contacts, LLM {args.llm_latency * 1000:.0f} ms, "
        f"Brevo {args.brevo_latency * 1000:.0f} ms, Brevo limit {BREVO_REQUESTS_PER_SECOND:.0f} req/s "
        f"({calls_per_contact:.2f} Brevo calls per contact -> at most {ceiling:.0f} contacts/min)"
    )
    for mode, f in figures.items():
        threads = 1 if mode == "sequential" else args.concurrency
        llm_bound = threads * 60 / (args.llm_latency * 1.25)  # chat + embedding (a quarter of it) per contact
        llm_rate = args.contacts / f["profile_phase_s"] * 60
        print(
            f"  {mode}: {f['contacts_per_minute']:.1f} contacts/min end to end = "
            f"{f['contacts_per_minute'] / ceiling:.2f} of the Brevo bound\n"
            f"    profiles {f['profile_phase_s']:.1f} s: {llm_rate:.0f} contacts/min = {llm_rate / llm_bound:.2f} of "
            f"the latency bound ({threads} x {args.llm_latency * 1250:.0f} ms; OpenRouter has no request cap)\n"
            f"    Brevo {f['brevo_phase_s']:.1f} s: {f['brevo_rps']:.1f} req/s = "
            f"{f['brevo_rps'] / BREVO_REQUESTS_PER_SECOND:.2f} of the 10 req/s limit, {f['brevo_429']:.0f} x 429"
        )
    return 0
