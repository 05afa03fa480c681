"""Brevo sync end to end: Dagster materializations against the Brevo and OpenRouter simulators and a real
PostgreSQL — list moves, one call per change, re-execution after a failure, erasure, faults, bulk."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest

from organizer_pipeline.enrichment.assets import brevo_contacts, contact_profiles
from organizer_pipeline.enrichment.brevo_contact import DEFAULT_EVENT_LISTS, e164, lists_for, parse_rules
from organizer_pipeline.enrichment.brevo_sync import BrevoSync
from organizer_pipeline.errors import ConfigError
from organizer_pipeline.privacy import email_sha256
from organizer_pipeline.resources.http import ApiAuthError
from organizer_pipeline.resources.warehouse import Warehouse
from organizer_pipeline_tests.enrichment.conftest import (
    T0,
    add_contact,
    add_event,
    brevo_client,
    openrouter_client,
    scalar,
)

BUYERS, REFUNDED = "Hotmart - Compradores", "Hotmart - Reembolsados"
RULES = parse_rules(DEFAULT_EVENT_LISTS)


def materialize(
    db_url, assets, openrouter_server=None, brevo_server=None, run_config=None, **brevo_overrides
):
    resources = {"warehouse": Warehouse(database_url=str(db_url.render_as_string(hide_password=False)))}
    if openrouter_server:
        resources["openrouter"] = openrouter_client(openrouter_server)
    if brevo_server:
        resources["brevo"] = brevo_client(brevo_server, **brevo_overrides)
    return dg.materialize(assets, resources=resources, run_config=run_config, raise_on_error=False)


def contact_writes(sim, email: str) -> list[dict]:
    """Accepted create/update calls for one contact."""
    posts = [c for c in sim.calls_to("POST", "contacts", ok_only=True) if c["body"]["email"] == email]
    return posts + [
        c
        for c in sim.calls
        if c["method"] == "PUT" and c["path"] == f"contacts/{email}" and c["status"] == 204
    ]


def test_purchase_then_refund_moves_the_contact_from_buyers_to_refunded(
    db_url, engine, openrouter_server, brevo_server
):
    email = "ana@example.com"
    add_contact(engine, email, status="APPROVED", phone="11999990000")
    add_event(engine, "evt-1", "PURCHASE_APPROVED", email)
    both = [contact_profiles, brevo_contacts]
    assert materialize(db_url, both, openrouter_server, brevo_server).success
    sim = brevo_server.sim
    assert sim.list_members(BUYERS) == {email}
    created = sim.contacts[email]
    assert created["attributes"]["SMS"] == "+5511999990000" and created["attributes"]["FIRSTNAME"] == "Ana"
    assert created["attributes"]["LTV"] == 497.0 and created["attributes"]["AI_SEGMENT"]

    add_contact(
        engine,
        email,
        status="REFUNDED",
        last_event="PURCHASE_REFUNDED",
        lifetime_value=0,
        phone="11999990000",
    )
    add_event(engine, "evt-2", "PURCHASE_REFUNDED", email, minutes=30)
    assert materialize(db_url, both, openrouter_server, brevo_server).success
    assert sim.list_members(REFUNDED) == {email} and sim.list_members(BUYERS) == set()
    assert sim.contacts[email]["attributes"]["HOTMART_STATUS"] == "REFUNDED"
    writes = contact_writes(sim, email)
    assert [c["method"] for c in writes] == ["POST", "PUT"]  # exactly one create/update per change
    assert writes[1]["body"]["unlinkListIds"] == [min(i for i, v in sim.lists.items() if v["name"] == BUYERS)]
    assert [e["event_name"] for e in sim.events] == ["hotmart_purchase_approved", "hotmart_purchase_refunded"]
    assert scalar(engine, "SELECT count(*) FROM ai.contact_profiles") == 1

    calls = len(sim.calls), len(openrouter_server.sim.calls)
    result = materialize(db_url, both, openrouter_server, brevo_server)
    assert (
        result.success and (len(sim.calls), len(openrouter_server.sim.calls)) == calls
    )  # nothing changed: no call


# 10 set-up writes (5 attributes, 1 folder, 4 lists), then 6 contacts, then 6 events: Brevo goes down after
# 3 contacts, or after every contact and 2 events. A POST answered 500 may have been applied: 3 of those in a
# row stop the run, and the re-execution looks each one up in Brevo before sending it again.
@pytest.mark.parametrize(
    ("brevo_server", "synced_before", "events_before"),
    [({"fail_writes_after": 13}, 3, 0), ({"fail_writes_after": 18}, 6, 2)],
    indirect=["brevo_server"],
)
def test_re_execution_after_a_halfway_failure_sends_nothing_twice(
    db_url, engine, brevo_server, synced_before, events_before
):
    emails = [f"buyer{n}@example.com" for n in range(6)]
    for n, email in enumerate(emails):
        add_contact(engine, email)
        add_event(engine, f"evt-{n}", "PURCHASE_APPROVED", email, minutes=n, transaction=f"HP{n}")
    config = {
        "ops": {"brevo_contacts": {"config": {"concurrency": 1, "resend_unconfirmed_after_minutes": 0}}}
    }
    first = materialize(db_url, [brevo_contacts], brevo_server=brevo_server, run_config=config)
    assert not first.success
    failure = next(e for e in first.all_events if e.is_step_failure).step_failure_data.error.message
    assert "re-execute to continue" in failure and "HTTP 500" in failure
    sim = brevo_server.sim
    assert scalar(engine, "SELECT count(*) FROM ai.brevo_sync WHERE status = 'synced'") == synced_before
    assert len(sim.events) == events_before
    assert scalar(engine, "SELECT count(*) FROM ai.side_effects WHERE status = 'uncertain'") == 3

    sim.fail_writes_after = None  # Brevo is back; the operator re-executes the run
    assert materialize(db_url, [brevo_contacts], brevo_server=brevo_server, run_config=config).success
    for email in emails:
        assert len(contact_writes(sim, email)) == 1, email
    sent = [e["event_properties"]["transaction"] + e["identifiers"]["email_id"] for e in sim.events]
    assert len(sent) == len(emails) == len(set(sent))
    assert scalar(engine, "SELECT count(*) FROM ai.side_effects WHERE action = 'brevo_event'") == len(emails)
    assert sim.list_members(BUYERS) == set(emails)


def test_erased_contact_is_never_recreated_without_newer_consent(db_url, engine, brevo_server):
    email = "gone@example.com"
    add_contact(engine, email)
    add_event(engine, "evt-1", "PURCHASE_APPROVED", email)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO ops.erasures (email_sha256, requested_by, erased_at) VALUES (%s, 'dpo', now())",
            (email_sha256(email),),
        )
    assert materialize(db_url, [brevo_contacts], brevo_server=brevo_server).success
    assert email not in brevo_server.sim.contacts and not brevo_server.sim.calls

    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE ops.erasures SET consent_event_id = 'evt-9', consent_at = erased_at + interval '1 day'"
        )
    assert materialize(db_url, [brevo_contacts], brevo_server=brevo_server).success
    assert email in brevo_server.sim.contacts


@pytest.mark.parametrize("brevo_server", [{"faults": [429, 503, 429, 503]}], indirect=True)
def test_rate_limits_and_unavailable_end_in_success(engine, brevo_server):
    add_contact(engine, "a@example.com")
    add_event(engine, "evt-1", "PURCHASE_APPROVED", "a@example.com")
    api = brevo_client(brevo_server, retry_attempts=6).get_api()
    run = BrevoSync(engine, api, RULES, concurrency=1).sync()
    assert (run.created, run.events_sent) == (1, 1) and api.stats.retries == 4


def test_a_rejected_contact_is_recorded_and_not_retried_until_it_changes(engine, brevo_server):
    add_contact(engine, "a@example.com")
    api = brevo_client(brevo_server).get_api()
    BrevoSync(engine, api, RULES).sync()  # creates attributes and lists
    add_contact(engine, "b@example.com")
    brevo_server.sim.faults = [400]
    run = BrevoSync(engine, api, RULES).sync()
    assert run.rejected == 1 and "simulated fault" in run.failures[0]
    assert scalar(engine, "SELECT last_error FROM ai.brevo_sync WHERE email = 'b@example.com'").startswith(
        "Brevo: HTTP 400"
    )
    calls = len(brevo_server.sim.calls)
    assert BrevoSync(engine, api, RULES).sync().pending == 0 and len(brevo_server.sim.calls) == calls


@pytest.mark.parametrize("brevo_server", [{"rate_limit": 10}], indirect=True)
def test_client_limiter_keeps_under_ten_per_second_and_headers_are_honoured(engine, brevo_server):
    for n in range(8):
        add_contact(engine, f"c{n}@example.com")
    limited = brevo_client(brevo_server, requests_per_second=10).get_api()
    BrevoSync(engine, limited, RULES, concurrency=4).sync()
    # at most a window-boundary 429 (then the reset header is honoured), against many without the limiter below
    assert brevo_server.sim.rejected_for_rate <= 1 and len(brevo_server.sim.contacts) == 8

    for n in range(8, 24):
        add_contact(engine, f"c{n}@example.com")
    unlimited = brevo_client(brevo_server, requests_per_second=0, retry_attempts=8).get_api()
    run = BrevoSync(engine, unlimited, RULES, concurrency=8).sync()
    assert brevo_server.sim.rejected_for_rate > 0  # Brevo said 429: we waited for x-sib-ratelimit-reset
    assert run.created == 16 and len(brevo_server.sim.contacts) == 24


def test_many_new_contacts_go_through_one_import(engine, brevo_server):
    for n in range(5):
        add_contact(engine, f"c{n}@example.com")
        add_event(engine, f"evt-{n}", "PURCHASE_APPROVED", f"c{n}@example.com")
    run = BrevoSync(engine, brevo_client(brevo_server).get_api(), RULES, bulk_threshold=3).sync()
    assert run.imported == 5 and not brevo_server.sim.calls_to("POST", "contacts")
    assert len(brevo_server.sim.calls_to("POST", "contacts/import")) == 1
    assert brevo_server.sim.list_members(BUYERS) == {f"c{n}@example.com" for n in range(5)}
    assert run.events_sent == 5


@pytest.mark.parametrize("brevo_server", [{"api_key": "xkeysib-right"}], indirect=True)
def test_wrong_key_fails_with_the_variable_to_fix(engine, brevo_server):
    add_contact(engine, "a@example.com")
    with pytest.raises(ApiAuthError, match="BREVO_API_KEY"):
        BrevoSync(engine, brevo_client(brevo_server).get_api(), RULES).sync()


@pytest.mark.parametrize(
    ("asset", "variable"), [("brevo", "BREVO_API_KEY"), ("openrouter", "OPENROUTER_API_KEY")]
)
def test_a_missing_key_fails_the_run_itself_naming_the_variable(db_url, engine, monkeypatch, asset, variable):
    """Not a launch-time config error (no run would exist, nothing in the UI): a run that fails, one line."""
    from organizer_pipeline.enrichment.defs import defs

    add_contact(engine, "a@example.com")
    monkeypatch.delenv(variable, raising=False)
    warehouse = Warehouse(database_url=db_url.render_as_string(hide_password=False))
    target = brevo_contacts if asset == "brevo" else contact_profiles
    result = dg.materialize(
        [target], resources={"warehouse": warehouse, asset: defs.resources[asset]}, raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert variable in failure.message and "\n" not in failure.message.strip()


def _events(*names_and_sales: tuple[str, str]) -> list[dict]:
    return [
        {"event_id": f"e{n}", "event": name, "transaction": sale, "occurred_at": T0 + timedelta(minutes=n)}
        for n, (name, sale) in enumerate(names_and_sales)
    ]


def test_list_rules_and_phone_numbers():
    assert lists_for(_events(("PURCHASE_APPROVED", "A"), ("PURCHASE_REFUNDED", "A")), RULES) == {REFUNDED}
    # one refunded sale does not take the buyer of another one out of the buyers
    two_sales = _events(("PURCHASE_APPROVED", "A"), ("PURCHASE_APPROVED", "B"), ("PURCHASE_REFUNDED", "B"))
    assert lists_for(two_sales, RULES) == {BUYERS, REFUNDED}
    # a late APPROVED the sale state machine ignores does not bring a refunded sale back
    assert lists_for(_events(("PURCHASE_REFUNDED", "A"), ("PURCHASE_APPROVED", "A")), RULES) == {REFUNDED}
    cart_then_buy = _events(("PURCHASE_OUT_OF_SHOPPING_CART", None), ("PURCHASE_APPROVED", "A"))
    assert lists_for(cart_then_buy, RULES) == {BUYERS}
    assert lists_for(_events(("PURCHASE_BILLET_PRINTED", "A")), RULES) == set()
    with pytest.raises(ConfigError, match="'\\+List name'"):
        parse_rules({"PURCHASE_APPROVED": ["Compradores"]})
    assert e164("(11) 99999-0000") == "+5511999990000"
    assert e164("5511999990000") == "+5511999990000"
    assert e164("+1 415 555 2671", "US") == "+14155552671"
    assert e164("(011) 3333-4444", "Brasil") == "+551133334444"
    assert e164("12345") is None and e164("999990000", "PT") is None and e164(None) is None


def test_openrouter_down_warns_and_brevo_still_syncs_then_catches_up(
    db_url, engine, openrouter_server, brevo_server
):
    email = "ana@example.com"
    add_contact(engine, email)
    add_event(engine, "evt-1", "PURCHASE_APPROVED", email)
    openrouter_server.sim.down_models = {"sandbox/primary", "sandbox/fallback"}
    both = [contact_profiles, brevo_contacts]
    result = materialize(db_url, both, openrouter_server, brevo_server)
    assert result.success
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "no_failed_profiles")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "AI_SEGMENT" not in brevo_server.sim.contacts[email]["attributes"]

    openrouter_server.sim.down_models = set()
    assert materialize(db_url, both, openrouter_server, brevo_server).success
    assert brevo_server.sim.contacts[email]["attributes"]["AI_SEGMENT"]
    assert [c["method"] for c in contact_writes(brevo_server.sim, email)] == ["POST", "PUT"]
    assert len(brevo_server.sim.events) == 1


def test_budget_exhaustion_is_said_in_the_run(db_url, engine, openrouter_server, brevo_server):
    for n in range(3):
        add_contact(engine, f"c{n}@example.com")
    resources = {
        "warehouse": Warehouse(database_url=db_url.render_as_string(hide_password=False)),
        "openrouter": openrouter_client(openrouter_server, daily_budget_usd=0.0001),
    }
    config = {"ops": {"contact_profiles": {"config": {"concurrency": 1}}}}
    result = dg.materialize([contact_profiles], resources=resources, run_config=config)
    [materialization] = result.asset_materializations_for_node("contact_profiles")
    assert materialization.metadata["budget_exhausted"].value is True
    assert materialization.metadata["skipped_budget"].value == 2


def test_erase_removes_profile_sync_state_and_the_brevo_contact(
    db_url, engine, openrouter_server, brevo_server
):
    from organizer_pipeline.enrichment.erase import forget_contact

    email = "ana@example.com"
    add_contact(engine, email)
    assert materialize(db_url, [contact_profiles, brevo_contacts], openrouter_server, brevo_server).success
    assert brevo_client(brevo_server).delete_contact("Ana@Example.com") is True
    assert brevo_client(brevo_server).delete_contact(email) is False  # already gone
    with engine.begin() as conn:
        assert forget_contact(conn, " Ana@Example.com ") == 2
        conn.exec_driver_sql(
            "INSERT INTO ops.erasures (email_sha256, requested_by) VALUES (%s, 'dpo')", (email_sha256(email),)
        )
    calls = len(brevo_server.sim.calls), len(openrouter_server.sim.calls)
    assert materialize(db_url, [contact_profiles, brevo_contacts], openrouter_server, brevo_server).success
    assert (len(brevo_server.sim.calls), len(openrouter_server.sim.calls)) == calls
    assert email not in brevo_server.sim.contacts


def test_a_fact_brevo_does_not_hold_is_noted_without_a_call(engine, brevo_server):
    add_contact(engine, "a@example.com")
    api = brevo_client(brevo_server).get_api()
    assert BrevoSync(engine, api, RULES).sync().created == 1
    add_contact(engine, "a@example.com", products=["Curso de Investimentos", "Bônus"])  # not sent to Brevo
    calls = len(brevo_server.sim.calls)
    assert BrevoSync(engine, api, RULES).sync().pending == 0
    assert len(brevo_server.sim.calls) == calls
    facts = scalar(engine, "SELECT facts_hash FROM hotmart.contacts")
    assert scalar(engine, "SELECT facts_hash FROM ai.brevo_sync") == facts


def test_two_runs_at_once_take_turns_and_send_once(engine, brevo_server):
    import threading

    for n in range(6):
        add_contact(engine, f"c{n}@example.com")
    brevo_server.sim.latency = 0.02
    runs = [BrevoSync(engine, brevo_client(brevo_server).get_api(), RULES, concurrency=2) for _ in range(2)]
    threads = [threading.Thread(target=run.sync) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(run.run.created for run in runs) == [0, 6]
    assert len(brevo_server.sim.calls_to("POST", "contacts", ok_only=True)) == 6


def test_after_a_rejected_change_the_next_one_still_leaves_the_old_lists(engine, brevo_server):
    email = "ana@example.com"
    add_contact(engine, email)
    add_event(engine, "evt-1", "PURCHASE_APPROVED", email)
    api = brevo_client(brevo_server).get_api()
    BrevoSync(engine, api, RULES).sync()
    add_contact(engine, email, status="REFUNDED")
    add_event(engine, "evt-2", "PURCHASE_REFUNDED", email, minutes=5)
    brevo_server.sim.faults = [400]
    assert BrevoSync(engine, api, RULES).sync().rejected == 1
    add_contact(engine, email, status="REFUNDED", lifetime_value=0)
    assert BrevoSync(engine, api, RULES).sync().updated == 1
    assert brevo_server.sim.list_members(REFUNDED) == {email} and not brevo_server.sim.list_members(BUYERS)


def test_a_phone_shared_with_another_contact_does_not_cost_the_contact(engine, brevo_server):
    add_contact(engine, "mae@example.com", phone="11 98888-7777")  # changed first, so sent first
    add_contact(engine, "filho@example.com", phone="(11) 98888-7777")
    run = BrevoSync(engine, brevo_client(brevo_server).get_api(), RULES, concurrency=1).sync()
    assert (run.created, run.rejected) == (2, 0)
    contacts = brevo_server.sim.contacts
    assert contacts["mae@example.com"]["attributes"]["SMS"] == "+5511988887777"
    assert "SMS" not in contacts["filho@example.com"]["attributes"]
    assert "already associated" in scalar(
        engine, "SELECT detail->>'sms_dropped' FROM ai.side_effects WHERE detail ? 'sms_dropped'"
    )


def test_history_before_send_events_since_is_not_sent_as_events(db_url, engine, brevo_server):
    add_contact(engine, "a@example.com")
    add_event(engine, "old", "PURCHASE_APPROVED", "a@example.com", minutes=-60 * 24 * 400)
    add_event(engine, "new", "PURCHASE_COMPLETE", "a@example.com")
    config = {"ops": {"brevo_contacts": {"config": {"send_events_since": "2026-01-01"}}}}
    assert materialize(db_url, [brevo_contacts], brevo_server=brevo_server, run_config=config).success
    assert [e["event_name"] for e in brevo_server.sim.events] == ["hotmart_purchase_complete"]
    assert brevo_server.sim.list_members(BUYERS) == {"a@example.com"}  # lists still follow the whole history
    bad = {"ops": {"brevo_contacts": {"config": {"send_events_since": "last year"}}}}
    failed = materialize(db_url, [brevo_contacts], brevo_server=brevo_server, run_config=bad)
    assert not failed.success
    error = next(e for e in failed.all_events if e.is_step_failure).step_failure_data.error
    assert "not an ISO date" in error.message


def _purchase(event_id: str, event: str, transaction: str, price: float, currency: str, minutes: int) -> dict:
    """A Hotmart 2.0.0 purchase envelope (contracts/hotmart.md), as the webhook stores it."""
    created = int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)
    return {
        "id": event_id,
        "creation_date": created,
        "event": event,
        "version": "2.0.0",
        "data": {
            "product": {"id": 1000 + int(transaction[2:]), "name": f"Curso {transaction}"},
            "buyer": {
                "email": "Ana@Example.com",
                "name": "Ana Souza",
                "first_name": "Ana",
                "last_name": "Souza",
            },
            "purchase": {
                "transaction": transaction,
                "status": event.removeprefix("PURCHASE_"),
                "order_date": created,
                "approved_date": created,
                "price": {"value": price, "currency_value": currency},
                "payment": {"type": "CREDIT_CARD", "installments_number": 1},
            },
        },
    }


def test_a_buyer_with_one_refund_stays_in_buyers_and_ltv_is_per_currency(engine, brevo_server):
    """#15.7 through the real Hotmart processing: BRL and USD purchases, one BRL purchase refunded."""
    import json

    import sqlalchemy as sa

    from organizer_pipeline.hotmart.processing import process_pending

    envelopes = [
        _purchase("e1", "PURCHASE_APPROVED", "HP1", 497, "BRL", 0),
        _purchase("e2", "PURCHASE_APPROVED", "HP2", 97, "USD", 10),
        _purchase("e3", "PURCHASE_APPROVED", "HP3", 297, "BRL", 20),
        _purchase("e4", "PURCHASE_REFUNDED", "HP3", 297, "BRL", 30),  # the last event: a refund
    ]
    with engine.begin() as conn:
        for envelope in envelopes:
            conn.execute(
                sa.text(
                    "INSERT INTO hotmart.webhook_inbox (event_id, event, creation_date, payload) "
                    "VALUES (:id, :event, to_timestamp(:ms / 1000.0), CAST(:payload AS jsonb))"
                ),
                {**envelope, "ms": envelope["creation_date"], "payload": json.dumps(envelope)},
            )
    process_pending(engine)
    with engine.connect() as conn:
        contact = conn.execute(sa.text("SELECT * FROM hotmart.contacts")).mappings().one()
    assert contact["status"] == "CUSTOMER"
    assert contact["lifetime_value"] == 497  # BRL only: the USD sale is not added, the refunded one is gone
    assert contact["lifetime_value_by_currency"] == {"BRL": 497.0, "USD": 97.0}

    BrevoSync(engine, brevo_client(brevo_server).get_api(), RULES).sync()
    sim = brevo_server.sim
    assert sim.list_members(BUYERS) == {"ana@example.com"}  # one refund does not undo the other purchases
    assert sim.list_members(REFUNDED) == {"ana@example.com"}
    attributes = sim.contacts["ana@example.com"]["attributes"]
    assert attributes["HOTMART_STATUS"] == "CUSTOMER"
    assert attributes["LTV"] == 497.0 and attributes["LTV_BY_CURRENCY"] == "BRL 497.00; USD 97.00"
    assert sorted(e["event_name"] for e in sim.events) == ["hotmart_purchase_approved"] * 3 + [
        "hotmart_purchase_refunded"
    ]


def _event_log_text(result) -> str:
    return "\n".join(dg.serialize_value(event) for event in result.all_events)


@pytest.mark.parametrize("sabotage", ["brevo_down", "database_refuses"])
def test_no_email_reaches_dagster_when_a_run_fails(db_url, engine, brevo_server, sabotage):
    """#15.2: Brevo paths (`contacts/ana%40gmail.com`), echoed bodies and driver errors are masked."""
    email = "ana@gmail.com"
    add_contact(engine, email)
    assert materialize(db_url, [brevo_contacts], brevo_server=brevo_server).success
    add_contact(engine, email, status="REFUNDED", lifetime_value=0)  # a change: PUT contacts/ana%40gmail.com
    if sabotage == "brevo_down":
        brevo_server.sim.faults = [503, 503, 503]
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE ai.brevo_sync ADD CONSTRAINT sabotage CHECK (false) NOT VALID")
    result = materialize(db_url, [brevo_contacts], brevo_server=brevo_server)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    text = _event_log_text(result)
    assert "ana@gmail" not in text.lower() and "ana%40gmail" not in text.lower()
    if sabotage == "brevo_down":
        assert "contacts/a***@g***.com" in failure.message and "re-execute to continue" in failure.message
    else:
        assert "Failure: CheckViolation: new row" in failure.message and failure.cause is None
