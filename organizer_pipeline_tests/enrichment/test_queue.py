"""O(pending), not O(history) (#15.9): triggers on the Hotmart tables queue what changed, the assets consume
the queue, and an idle run reads no row of the history (the previous design's queries read all of it).
The figures at 1M events are `organizer bench enrichment_idle`'s job; here, what each statement reads."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from organizer_pipeline.bench.enrichment_idle import OLD_QUERIES
from organizer_pipeline.enrichment import store
from organizer_pipeline.enrichment.brevo_sync import BrevoSync
from organizer_pipeline.enrichment.enrich import build_profiles
from organizer_pipeline_tests.enrichment.conftest import (
    add_contact,
    add_event,
    brevo_client,
    openrouter_client,
)
from organizer_pipeline_tests.enrichment.test_brevo_sync import RULES

HISTORY = {"contacts", "events", "sales", "contact_profiles", "brevo_sync", "llm_calls", "side_effects"}


def queue(engine) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT consumer, email, seq FROM ai.enrichment_queue"))
        return {(consumer, email): seq for consumer, email, seq in rows}


def queued_events(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT event_id FROM ai.brevo_event_queue")).scalars())


def both(engine, openrouter_server, brevo_server) -> tuple[Any, Any]:
    profiled = build_profiles(engine, openrouter_client(openrouter_server).get_api(), 5.0)
    synced = BrevoSync(engine, brevo_client(brevo_server).get_api(), RULES).sync()
    return profiled, synced


def test_changes_are_queued_by_triggers_and_consumed_once(engine, openrouter_server, brevo_server):
    email = "a@example.com"
    add_contact(engine, email)
    first = queue(engine)
    assert set(first) == {("profile", email), ("brevo", email)}
    with engine.begin() as conn:  # a write that changes no fact queues nothing
        conn.execute(sa.text("UPDATE hotmart.contacts SET facts_hash = facts_hash, updated_at = now()"))
    assert queue(engine) == first

    profiled, synced = both(engine, openrouter_server, brevo_server)
    assert (profiled.profiled, synced.created) == (1, 1) and queue(engine) == {}

    add_event(engine, "evt-1", "PURCHASE_APPROVED", email)
    assert queued_events(engine) == {"evt-1"} and queue(engine) == {}
    assert (
        both(engine, openrouter_server, brevo_server)[1].events_sent == 1 and queued_events(engine) == set()
    )

    with engine.begin() as conn:  # a sale that changes state queues its buyer for Brevo
        conn.execute(
            sa.text(
                "INSERT INTO hotmart.sales (transaction, status, buyer_email) VALUES ('HP9', 'APPROVED', :e)"
            ),
            {"e": email},
        )
    assert set(queue(engine)) == {("brevo", email)}

    # a change arriving while a consumer works keeps its row: the consumer deletes only the seq it read
    read = queue(engine)[("brevo", email)]
    add_contact(engine, email, status="REFUNDED")
    with engine.begin() as conn:
        store.dequeue(conn, "brevo", email, read)
    assert ("brevo", email) in queue(engine) and queue(engine)[("brevo", email)] > read

    with engine.begin() as conn:  # an erasure deletes the contact: nothing of it stays in the queue
        conn.execute(sa.text("DELETE FROM hotmart.contacts WHERE email = :e"), {"e": email})
    assert queue(engine) == {}


def _rows_read(conn, statement: str, params: Any) -> int:
    """Rows of history tables that the statement's plan touched (returned or filtered out)."""
    plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params).scalar()
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def walk(node: dict[str, Any]) -> int:
        here = 0
        if node.get("Relation Name") in HISTORY:
            per_loop = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
            here = per_loop * node.get("Actual Loops", 1)
        return here + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])


def test_an_idle_run_reads_no_row_of_the_history(engine, openrouter_server, brevo_server):
    for n in range(30):
        add_contact(engine, f"c{n}@example.com", products=[f"Curso {n % 4}"])
        for k in range(3):
            add_event(
                engine, f"e{n}-{k}", "PURCHASE_APPROVED", f"c{n}@example.com", minutes=k, transaction=f"HP{n}"
            )
    both(engine, openrouter_server, brevo_server)  # everything profiled and synced

    statements: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, params, context, many) -> None:
        if not many and "pg_advisory" not in statement:
            statements.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        calls = len(openrouter_server.sim.calls), len(brevo_server.sim.calls)
        profiled, synced = both(engine, openrouter_server, brevo_server)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    assert (profiled.pending, synced.pending) == (0, 0)
    assert (len(openrouter_server.sim.calls), len(brevo_server.sim.calls)) == calls
    assert statements

    with engine.connect() as conn:
        # The tables are tiny here, so a sequential scan would look cheap to the planner: plans are taken
        # with it off, to see what each statement needs at any size (the benchmark runs the real plans).
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.commit()
        read = {}
        for (
            statement,
            params,
        ) in statements:  # each in a transaction rolled back: DELETE/UPDATE change nothing
            read[" ".join(statement.split())[:80]] = _rows_read(conn, statement, params)
            conn.rollback()
        old = {name: _rows_read(conn, query, {}) for name, query in OLD_QUERIES.items()}
        conn.rollback()
        conn.exec_driver_sql("RESET enable_seqscan")
        conn.commit()
    assert sum(read.values()) == 0, read
    assert all(rows >= 30 for rows in old.values()), old  # the previous design read the whole history


def test_facts_that_changed_back_leave_the_queue_without_a_call(engine, openrouter_server):
    add_contact(engine, "a@example.com")
    api = openrouter_client(openrouter_server).get_api()
    assert build_profiles(engine, api, 5.0).profiled == 1
    add_contact(engine, "a@example.com", status="REFUNDED")
    add_contact(engine, "a@example.com")  # back to the facts the profile was built from
    calls = len(openrouter_server.sim.calls)
    assert build_profiles(engine, api, 5.0).pending == 0
    assert len(openrouter_server.sim.calls) == calls and ("profile", "a@example.com") not in queue(engine)
