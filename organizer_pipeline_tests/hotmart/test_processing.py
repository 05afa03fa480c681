import json
import random
from collections import Counter
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from organizer_pipeline.hotmart import processing
from organizer_pipeline.hotmart.payloads import parse_event
from organizer_pipeline.hotmart.processing import (
    MAX_ATTEMPTS,
    InboxBatchFailed,
    process_pending,
    reason_of,
    requeue_failed,
)
from organizer_pipeline.sandbox import hotmart as generator
from organizer_pipeline_tests.hotmart.helpers import rows, snapshot, store

START = 1_760_000_000_000
TRUNCATE = "TRUNCATE hotmart.webhook_inbox, hotmart.events, hotmart.sales, hotmart.contacts, hotmart.webhook_quarantine"


def test_duplicates_and_shuffle_give_the_same_tables(engine):
    unique = generator.generate(400, seed=11, start_ms=START)
    assert store(engine, unique) == 400
    result = process_pending(engine)
    assert (result.events, result.applied, result.quarantined) == (400, 400, 0)
    expected = snapshot(engine)
    assert expected["sales"] and expected["contacts"] and len(expected["events"]) == 400

    with engine.begin() as conn:
        conn.execute(sa.text(TRUNCATE))
    messy = generator.generate(400, seed=11, duplicates=0.3, shuffle=True, start_ms=START)
    assert len(messy) > 450
    rng = random.Random(5)
    while messy:  # arrive and get processed in small, uneven batches
        cut = rng.randint(1, 60)
        store(engine, messy[:cut])
        messy = messy[cut:]
        process_pending(engine, batch_size=rng.randint(5, 50))
    got = snapshot(engine)
    for table in ("events", "sales", "contacts"):
        assert len(got[table]) == len(expected[table])
        for mine, theirs in zip(got[table], expected[table], strict=True):
            assert mine == theirs


def test_late_approved_never_resurrects_a_refund(engine):
    approved, refunded = _purchase_pair("PURCHASE_REFUNDED", "REFUNDED")
    store(engine, [refunded])
    process_pending(engine)
    store(engine, [approved])  # arrives later, happened earlier
    process_pending(engine)
    late = dict(approved, id="late-retry", creation_date=refunded["creation_date"] + 1000)
    store(engine, [late])  # even one created after the refund
    process_pending(engine)
    [sale] = rows(engine, "SELECT * FROM hotmart.sales")
    assert sale["status"] == "REFUNDED"
    assert [(h["event"], h["applied"]) for h in sale["status_history"]] == [
        ("PURCHASE_APPROVED", True),
        ("PURCHASE_REFUNDED", True),
        ("PURCHASE_APPROVED", False),
    ]
    [contact] = rows(engine, "SELECT * FROM hotmart.contacts")
    assert contact["status"] == "REFUNDED" and contact["lifetime_value"] == 0


def test_complete_after_approved_is_progress_and_counts_as_revenue(engine):
    approved, complete = _purchase_pair("PURCHASE_COMPLETE", "COMPLETED")
    store(engine, [complete, approved])
    process_pending(engine)
    [sale] = rows(engine, "SELECT * FROM hotmart.sales")
    assert sale["status"] == "COMPLETE" and sale["approved_at"] is not None
    assert sale["producer_commission"] is not None and sale["commissions"]
    [contact] = rows(engine, "SELECT * FROM hotmart.contacts")
    assert contact["status"] == "CUSTOMER" and contact["lifetime_value"] == sale["price"]
    assert contact["products"][0]["paid"] == 1


def test_contact_facts_hash_ignores_replays(engine):
    events = generator.generate(60, seed=2)
    store(engine, events)
    process_pending(engine)
    before = rows(engine, "SELECT email, facts_hash, updated_at FROM hotmart.contacts ORDER BY email")
    with engine.begin() as conn:  # re-apply everything: nothing about the people changed
        conn.execute(sa.text("UPDATE hotmart.webhook_inbox SET processed_at = NULL"))
    process_pending(engine)
    assert rows(engine, "SELECT email, facts_hash, updated_at FROM hotmart.contacts ORDER BY email") == before


def test_subscription_club_and_cart_update_the_contact(engine):
    events = generator.generate(600, seed=3)
    store(engine, events)
    process_pending(engine)
    contacts = rows(engine, "SELECT * FROM hotmart.contacts")
    assert any(c["subscription"] and c["subscription"]["cancelled"] for c in contacts)
    assert any(c["club"] and c["club"]["modules_completed"] for c in contacts)
    assert any(c["cart"] and c["status"] == "LEAD" for c in contacts)
    assert all(c["email"] == c["email"].lower() for c in contacts)
    funnel = rows(
        engine, "SELECT count(*) AS n FROM hotmart.events WHERE event = 'PURCHASE_OUT_OF_SHOPPING_CART'"
    )
    assert funnel[0]["n"] > 0


def test_unusable_event_is_quarantined_and_marked(engine):
    store(engine, [{"id": "bad-1", "event": "PURCHASE_APPROVED", "creation_date": 1759194927364, "data": {}}])
    result = process_pending(engine)
    assert result.quarantined == 1
    [q] = rows(engine, "SELECT * FROM hotmart.webhook_quarantine")
    assert q["source"] == "processor" and "transaction" in q["reason"] and q["event_id"] == "bad-1"
    [inbox] = rows(engine, "SELECT processed_at, failed_at, last_error FROM hotmart.webhook_inbox")
    assert inbox["processed_at"] and inbox["failed_at"] and inbox["last_error"] == q["reason"]


@contextmanager
def table_locked(engine, table, monkeypatch):
    """Another session holds `table` (a migration, VACUUM FULL): the warehouse refuses the write for now."""
    monkeypatch.setattr(processing, "LOCK_TIMEOUT", "200ms")
    blocker = engine.connect()
    transaction = blocker.begin()
    blocker.execute(sa.text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
    try:
        yield
    finally:
        transaction.rollback()
        blocker.close()


def test_a_batch_the_database_refuses_stays_pending_and_is_applied_later(engine, monkeypatch):
    store(engine, generator.generate(30, seed=4))
    with table_locked(engine, "hotmart.sales", monkeypatch):
        with pytest.raises(InboxBatchFailed, match="batch of 30 events could not be applied.*lock timeout"):
            process_pending(engine)
    inbox = rows(engine, "SELECT processed_at, failed_at, attempts, last_error FROM hotmart.webhook_inbox")
    assert all(r["processed_at"] is None and r["failed_at"] is None and r["attempts"] == 1 for r in inbox)
    assert all("LockNotAvailable" in r["last_error"] for r in inbox)
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.events") == [{"n": 0}]
    assert process_pending(engine).applied == 30


def test_attempts_are_bounded_and_failed_events_can_be_retried(engine, monkeypatch):
    store(engine, generator.generate(12, seed=14))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE hotmart.webhook_inbox SET attempts = :n"), {"n": MAX_ATTEMPTS - 1})
    with table_locked(engine, "hotmart.contacts", monkeypatch):
        with pytest.raises(
            InboxBatchFailed, match=f"12 of them failed for good after {MAX_ATTEMPTS} attempts"
        ):
            process_pending(engine)
    inbox = rows(engine, "SELECT processed_at, failed_at, attempts, last_error FROM hotmart.webhook_inbox")
    assert all(r["processed_at"] and r["failed_at"] and r["attempts"] == MAX_ATTEMPTS for r in inbox)
    assert all(r["last_error"].startswith(f"gave up after {MAX_ATTEMPTS} attempts: ") for r in inbox)
    assert process_pending(engine).events == 0  # failed: no longer pending, no longer retried
    quarantine = rows(engine, "SELECT reason FROM hotmart.webhook_quarantine WHERE source = 'processor'")
    assert len(quarantine) == 12

    assert requeue_failed(engine) == 12  # the cause is fixed: `organizer hotmart process --retry-failed`
    assert process_pending(engine).applied == 12
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.webhook_inbox WHERE failed_at IS NOT NULL") == [
        {"n": 0}
    ]


def test_an_event_the_database_refuses_fails_alone(engine):
    events = generator.generate(30, seed=15)
    transactions = Counter(parse_event(e).transaction for e in events)
    poison = next(
        e for e in events if transactions[parse_event(e).transaction] == 1 and "purchase" in e["data"]
    )
    with engine.begin() as conn:  # e.g. a constraint an operator added that one sale breaks
        conn.execute(
            sa.text("ALTER TABLE hotmart.sales ADD CONSTRAINT refused CHECK (transaction <> :t) NOT VALID"),
            {"t": poison["data"]["purchase"]["transaction"]},
        )
    store(engine, events)
    result = process_pending(engine)
    assert (result.events, result.applied, result.quarantined) == (30, 29, 1)
    [failure] = result.failures
    assert failure.event_id == poison["id"] and failure.attempts == 1
    assert (
        failure.reason == 'CheckViolation: new row for relation "sales" violates check constraint "refused"'
    )
    [row] = rows(engine, "SELECT * FROM hotmart.webhook_inbox WHERE failed_at IS NOT NULL")
    assert row["event_id"] == poison["id"] and row["processed_at"] and row["last_error"] == failure.reason
    [quarantined] = rows(engine, "SELECT * FROM hotmart.webhook_quarantine")
    assert quarantined["source"] == "processor" and quarantined["event_id"] == poison["id"]
    assert quarantined["reason"] == failure.reason and json.loads(quarantined["body"])["id"] == poison["id"]
    applied = rows(engine, "SELECT event_id FROM hotmart.events")
    assert len(applied) == 29 and poison["id"] not in {r["event_id"] for r in applied}
    [batch] = rows(engine, "SELECT detail FROM ops.audit_log WHERE action = 'hotmart.batch_applied'")
    assert batch["detail"]["applied"] == 29 and batch["detail"]["quarantined"] == 1


def test_a_batch_in_which_every_event_fails_alone_is_retried_not_quarantined(engine):
    purchases = [e for e in generator.generate(40, seed=16) if e["event"].startswith("PURCHASE_")][:5]
    store(engine, purchases)
    with engine.begin() as conn:  # the warehouse, not the events: no sale can be written at all
        conn.execute(sa.text("ALTER TABLE hotmart.sales ADD CONSTRAINT no_sales CHECK (false) NOT VALID"))
    with pytest.raises(InboxBatchFailed, match="every event of the batch failed alone"):
        process_pending(engine)
    inbox = rows(engine, "SELECT failed_at, attempts FROM hotmart.webhook_inbox")
    assert all(r["failed_at"] is None and r["attempts"] == 1 for r in inbox)


def test_failure_reasons_carry_no_personal_data(engine):
    [event] = generator.generate(1, seed=17)
    email = parse_event(event).email
    with engine.begin() as conn:  # DETAIL: Failing row contains (<e-mail>, <name>, …)
        conn.execute(
            sa.text("ALTER TABLE hotmart.contacts ADD CONSTRAINT refused CHECK (email <> :e)"), {"e": email}
        )
    store(engine, [event])
    [failure] = process_pending(engine).failures
    assert (
        failure.reason
        == 'CheckViolation: new row for relation "contacts" violates check constraint "refused"'
    )
    everything = json.dumps(rows(engine, "SELECT reason FROM hotmart.webhook_quarantine"), default=str)
    everything += json.dumps(rows(engine, "SELECT detail FROM ops.audit_log"), default=str)
    assert email not in everything.lower()


def test_reason_of_masks_personal_data_and_says_where_python_failed():
    try:
        {}["ana@gmail.com"]
    except KeyError as error:
        reason = reason_of(error)
    assert reason.startswith("KeyError: '") and "***@g***.com' (at test_processing.py:" in reason
    assert "ana@" not in reason and "gmail" not in reason


def test_only_the_given_event_ids(engine):
    events = generator.generate(20, seed=6)
    store(engine, events)
    chosen = [e["id"] for e in events[:5]]
    assert process_pending(engine, chosen).events == 5
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.webhook_inbox WHERE processed_at IS NULL") == [
        {"n": 15}
    ]


def test_max_events_bounds_a_run_oldest_first(engine):
    events = generator.generate(50, seed=18)
    store(engine, events)
    assert process_pending(engine, batch_size=8, max_events=20).events == 20
    done = rows(
        engine, "SELECT event_id FROM hotmart.webhook_inbox WHERE processed_at IS NOT NULL ORDER BY id"
    )
    assert [r["event_id"] for r in done] == [e["id"] for e in events[:20]]


def test_audit_lines_mask_the_email(engine):
    store(engine, generator.generate(10, seed=8))
    process_pending(engine)
    audit = rows(engine, "SELECT subject, detail FROM ops.audit_log WHERE action = 'hotmart.event_applied'")
    assert len(audit) == 10
    text = json.dumps(audit, default=str)
    assert "@example.com" not in text and "***@" in text


def _purchase_pair(second: str, raw_status: str) -> tuple[dict, dict]:
    from organizer_pipeline_tests.hotmart.test_payloads import TEST_SEND

    approved = json.loads(json.dumps(TEST_SEND))
    other = json.loads(json.dumps(TEST_SEND))
    other.update(id="second", event=second, creation_date=TEST_SEND["creation_date"] + 86_400_000)
    other["data"]["purchase"]["status"] = raw_status
    return approved, other


def test_erased_email_gets_no_contact_and_no_personal_data(engine):
    from organizer_pipeline.privacy import email_sha256

    approved, _ = _purchase_pair("PURCHASE_REFUNDED", "REFUNDED")
    email = approved["data"]["buyer"]["email"]
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO ops.erasures (email_sha256, requested_by) VALUES (:h, 'test')"),
            {"h": email_sha256(email)},
        )
    store(engine, [approved])
    process_pending(engine)
    assert rows(engine, "SELECT * FROM hotmart.contacts") == []
    [event] = rows(engine, "SELECT email, facts FROM hotmart.events")
    assert event["email"] is None and "document" not in event["facts"] and "name" not in event["facts"]
    [sale] = rows(engine, "SELECT status, buyer_email FROM hotmart.sales")
    assert sale == {"status": "APPROVED", "buyer_email": None}
