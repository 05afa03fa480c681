import json
import random

import pytest
import sqlalchemy as sa

from organizer_pipeline.hotmart.processing import process_pending
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
    assert rows(engine, "SELECT processed_at IS NOT NULL AS done FROM hotmart.webhook_inbox") == [
        {"done": True}
    ]


def test_a_failing_batch_leaves_its_events_pending(engine):
    store(engine, generator.generate(30, seed=4))
    with engine.begin() as conn:  # sabotage: the sales table refuses writes
        conn.execute(sa.text("ALTER TABLE hotmart.sales ADD CONSTRAINT no_sales CHECK (false) NOT VALID"))
    with pytest.raises(sa.exc.IntegrityError):
        process_pending(engine)
    inbox = rows(engine, "SELECT processed_at, attempts, last_error FROM hotmart.webhook_inbox")
    assert all(r["processed_at"] is None and r["attempts"] == 1 and r["last_error"] for r in inbox)
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.events") == [{"n": 0}]
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE hotmart.sales DROP CONSTRAINT no_sales"))
    assert process_pending(engine).events == 30


def test_only_the_given_event_ids(engine):
    events = generator.generate(20, seed=6)
    store(engine, events)
    chosen = [e["id"] for e in events[:5]]
    assert process_pending(engine, chosen).events == 5
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.webhook_inbox WHERE processed_at IS NULL") == [
        {"n": 15}
    ]


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
