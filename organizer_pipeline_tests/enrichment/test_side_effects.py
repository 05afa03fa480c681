"""Retries never duplicate a side effect (#15.10). The simulators apply a write and then hold its answer past
the client's timeout ("timeout_applied"), or lose it unapplied ("timeout_lost"): a contact is looked up in
Brevo before it is sent again, an event is found again through GET /v3/events, and an OpenRouter generation
whose answer was lost is budgeted and never asked again in the same run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from organizer_pipeline.enrichment.brevo_sync import BrevoSync
from organizer_pipeline.enrichment.enrich import build_profiles
from organizer_pipeline.privacy import email_sha256
from organizer_pipeline_tests.enrichment.conftest import (
    add_contact,
    add_event,
    brevo_client,
    openrouter_client,
    scalar,
)
from organizer_pipeline_tests.enrichment.test_brevo_sync import RULES, materialize

# The client gives up after 0.2 s; the simulators answer after 0.6 s.
PATIENCE = {"timeout_seconds": 0.2}
STALL = {"stall_seconds": 0.6}


def sync(engine, server, **kwargs):
    return BrevoSync(
        engine, brevo_client(server, **PATIENCE).get_api(), RULES, concurrency=1, **kwargs
    ).sync()


def posts(sim, path: str, email: str | None = None) -> list[dict]:
    found = [c for c in sim.calls if c["method"] == "POST" and c["path"] == path]
    if email:
        key = "email" if path == "contacts" else None
        found = [
            c for c in found if (c["body"].get(key) if key else c["body"]["identifiers"]["email_id"]) == email
        ]
    return found


def ledger(engine, subject_like: str) -> str:
    return scalar(engine, "SELECT status FROM ai.side_effects WHERE subject LIKE :s", s=subject_like)


@pytest.mark.parametrize("brevo_server", [STALL], indirect=True)
def test_a_contact_upsert_applied_but_unanswered_is_found_in_brevo_not_sent_twice(engine, brevo_server):
    add_contact(engine, "first@example.com")
    sync(engine, brevo_server)  # attributes, lists and a first contact
    add_contact(engine, "ana@example.com")
    brevo_server.sim.faults = ["timeout_applied"]
    run = sync(engine, brevo_server)
    assert (run.created, run.reconciled, run.uncertain) == (0, 1, 0)
    assert len(posts(brevo_server.sim, "contacts", "ana@example.com")) == 1  # applied once, never re-sent
    assert "ana@example.com" in brevo_server.sim.contacts
    assert ledger(engine, f"contact:{email_sha256('ana@example.com')}:%") == "sent"
    assert sync(engine, brevo_server).pending == 0


@pytest.mark.parametrize("brevo_server", [STALL], indirect=True)
def test_a_contact_upsert_lost_before_brevo_applied_it_is_sent_after_a_look(engine, brevo_server):
    add_contact(engine, "first@example.com")
    sync(engine, brevo_server)
    add_contact(engine, "ana@example.com")
    brevo_server.sim.faults = ["timeout_lost"]
    assert sync(engine, brevo_server).uncertain == 1
    subject = f"contact:{email_sha256('ana@example.com')}:%"
    assert ledger(engine, subject) == "uncertain" and "ana@example.com" not in brevo_server.sim.contacts

    assert sync(engine, brevo_server).created == 1
    mine = [
        (c["method"], c["path"])
        for c in brevo_server.sim.calls
        if c["path"] == "contacts/ana@example.com" or c["body"].get("email") == "ana@example.com"
    ]
    # POST (lost), GET (not there); next run: GET (still not there), then the one POST Brevo applied
    assert mine == [
        ("POST", "contacts"),
        ("GET", "contacts/ana@example.com"),
        ("GET", "contacts/ana@example.com"),
        ("POST", "contacts"),
    ]
    assert ledger(engine, subject) == "sent"


def _synced_contact_with_an_event_in_flight(engine, brevo_server, fault: str) -> None:
    add_contact(engine, "ana@example.com")
    sync(engine, brevo_server)  # the contact exists in Brevo; no event yet
    add_event(engine, "evt-1", "PURCHASE_APPROVED", "ana@example.com")
    brevo_server.sim.faults = [fault]
    run = sync(engine, brevo_server)
    assert (run.events_sent, run.uncertain) == (0, 1)
    assert ledger(engine, "event:evt-1") == "uncertain"


@pytest.mark.parametrize("brevo_server", [STALL], indirect=True)
def test_an_event_applied_but_unanswered_is_found_in_brevo_and_never_fired_twice(engine, brevo_server):
    _synced_contact_with_an_event_in_flight(engine, brevo_server, "timeout_applied")
    run = sync(engine, brevo_server, resend_unconfirmed_after=timedelta(0))
    assert run.events_reconciled == 1 and run.unconfirmed_total == 0
    assert len(posts(brevo_server.sim, "events")) == 1 and len(brevo_server.sim.events) == 1
    assert ledger(engine, "event:evt-1") == "sent"
    assert sync(engine, brevo_server).uncertain == 0 and len(brevo_server.sim.events) == 1


@pytest.mark.parametrize("brevo_server", [STALL], indirect=True)
def test_an_event_lost_unapplied_is_sent_again_only_after_brevo_says_it_lacks_it(engine, brevo_server):
    _synced_contact_with_an_event_in_flight(engine, brevo_server, "timeout_lost")
    waiting = sync(engine, brevo_server)  # Brevo may still be storing it: not sent again yet
    assert waiting.uncertain == 1 and len(posts(brevo_server.sim, "events")) == 1
    run = sync(engine, brevo_server, resend_unconfirmed_after=timedelta(0))
    assert run.events_sent == 1 and len(brevo_server.sim.events) == 1
    assert scalar(engine, "SELECT attempts FROM ai.side_effects WHERE subject = 'event:evt-1'") == 2


@pytest.mark.parametrize("brevo_server", [{**STALL, "list_events": False}], indirect=True)
def test_an_event_brevo_cannot_confirm_stays_flagged_and_is_not_resent(db_url, engine, brevo_server):
    _synced_contact_with_an_event_in_flight(engine, brevo_server, "timeout_applied")
    config = {"ops": {"brevo_contacts": {"config": {"resend_unconfirmed_after_minutes": 0}}}}
    result = materialize(db_url, [brevo_contacts_asset()], brevo_server=brevo_server, run_config=config)
    assert result.success
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "no_unconfirmed_calls")
    assert not check.passed and "cannot tell" in check.description
    assert len(posts(brevo_server.sim, "events")) == 1 and ledger(engine, "event:evt-1") == "uncertain"


def brevo_contacts_asset():
    from organizer_pipeline.enrichment.assets import brevo_contacts

    return brevo_contacts


@pytest.mark.parametrize("openrouter_server", [STALL], indirect=True)
def test_a_lost_profile_answer_is_budgeted_never_asked_twice_in_a_run_and_parked_after_two(
    engine, openrouter_server
):
    def run():
        api = openrouter_client(openrouter_server, **PATIENCE).get_api()
        return build_profiles(engine, api, 5.0, concurrency=1)

    def chats() -> int:
        return sum(1 for c in openrouter_server.sim.calls if c["path"] == "chat/completions")

    add_contact(engine, "first@example.com")
    assert run().profiled == 1  # a typical price is now known: US$ 0.0004
    add_contact(engine, "ana@example.com")
    openrouter_server.sim.chat_faults = ["timeout"]
    lost = run()
    assert (lost.profiled, lost.uncertain) == (0, 1) and chats() == 2  # no retry, no fallback model
    assert openrouter_server.sim.billed["chat/completions"] == 2
    facts = scalar(engine, "SELECT facts_hash FROM hotmart.contacts WHERE email = 'ana@example.com'")
    mine = {"h": email_sha256("ana@example.com"), "f": facts}
    of_ana = "SELECT {} FROM ai.llm_calls WHERE email_sha256 = :h AND facts_hash = :f"
    assert scalar(engine, of_ana.format("status || ' ' || cost_usd"), **mine) == "uncertain 0.00040000"
    assert scalar(engine, "SELECT count(*) FROM ai.llm_calls WHERE status = 'sending'") == 0

    # a run that died while waiting for an answer left its 'sending' row: one more possibly billed call
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO ai.llm_calls (purpose, email_sha256, facts_hash, requested_model, status, cost_usd) "
            "VALUES ('profile', %s, %s, 'sandbox/primary', 'sending', 0.0004)",
            (email_sha256("ana@example.com"), facts),
        )
    parked = run()
    assert (parked.parked, parked.pending) == (1, 0) and chats() == 2  # two lost answers: wait for new facts
    assert scalar(engine, of_ana.format("count(*) FILTER (WHERE status = 'uncertain')"), **mine) == 2

    add_contact(engine, "ana@example.com", status="COMPLETE")
    assert run().profiled == 1 and chats() == 3
