"""Apply pending inbox events to hotmart.events, hotmart.sales and hotmart.contacts.

One batch = one transaction: the typed events, the rebuilt sales and contacts, the audit lines and the
`processed_at` marks commit together, so a batch that fails leaves all its events pending. Runs serialize on
an advisory lock, so two runs never rebuild the same contact at once."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from organizer_pipeline.hotmart import rebuild
from organizer_pipeline.hotmart.payloads import EnvelopeError, HotmartEvent, UnusableEvent, parse_event
from organizer_pipeline.ops.audit import audit_many
from organizer_pipeline.privacy import email_sha256, redact

ACTOR = "hotmart_inbox"
LOCK_KEY = 0x484F544D  # "HOTM": pg_advisory_xact_lock key of the apply step
QUARANTINE_BODY_CHARS = 65_536

SELECT_PENDING = """
    SELECT id, event_id, event, creation_date, received_at, payload::text AS payload
    FROM hotmart.webhook_inbox
    WHERE processed_at IS NULL {only}
    ORDER BY id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
"""
INSERT_EVENT = sa.text(
    """
    INSERT INTO hotmart.events (event_id, event, occurred_at, email, transaction, product_id, product_name,
                                offer_code, status, price, currency, facts)
    VALUES (:event_id, :event, :occurred_at, :email, :transaction, :product_id, :product_name,
            :offer_code, :status, :price, :currency, CAST(:facts AS jsonb))
    ON CONFLICT (event_id) DO NOTHING
    """
)
UPSERT_SALE = sa.text(
    """
    INSERT INTO hotmart.sales (transaction, status, product_id, product_name, offer_code, price, currency,
        payment_type, installments, producer_commission, commissions, buyer_email, order_date, approved_at,
        status_history, last_event_id, last_event_at, updated_at)
    VALUES (:transaction, :status, :product_id, :product_name, :offer_code, :price, :currency,
        :payment_type, :installments, :producer_commission, CAST(:commissions AS jsonb), :buyer_email,
        :order_date, :approved_at, CAST(:status_history AS jsonb), :last_event_id, :last_event_at, now())
    ON CONFLICT (transaction) DO UPDATE SET
        status = EXCLUDED.status, product_id = EXCLUDED.product_id, product_name = EXCLUDED.product_name,
        offer_code = EXCLUDED.offer_code, price = EXCLUDED.price, currency = EXCLUDED.currency,
        payment_type = EXCLUDED.payment_type, installments = EXCLUDED.installments,
        producer_commission = EXCLUDED.producer_commission, commissions = EXCLUDED.commissions,
        buyer_email = EXCLUDED.buyer_email, order_date = EXCLUDED.order_date,
        approved_at = EXCLUDED.approved_at, status_history = EXCLUDED.status_history,
        last_event_id = EXCLUDED.last_event_id, last_event_at = EXCLUDED.last_event_at, updated_at = now()
    """
)
UPSERT_CONTACT = sa.text(
    """
    INSERT INTO hotmart.contacts (email, name, first_name, last_name, phone, document, city, state, country,
        status, last_event, first_event_at, last_event_at, lifetime_value, lifetime_value_by_currency, products,
        last_product, subscription, club, cart, facts_hash, updated_at)
    VALUES (:email, :name, :first_name, :last_name, :phone, :document, :city, :state, :country,
        :status, :last_event, :first_event_at, :last_event_at, :lifetime_value,
        CAST(:lifetime_value_by_currency AS jsonb), CAST(:products AS jsonb),
        :last_product, CAST(:subscription AS jsonb), CAST(:club AS jsonb), CAST(:cart AS jsonb),
        :facts_hash, now())
    ON CONFLICT (email) DO UPDATE SET
        name = EXCLUDED.name, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
        phone = EXCLUDED.phone, document = EXCLUDED.document, city = EXCLUDED.city, state = EXCLUDED.state,
        country = EXCLUDED.country, status = EXCLUDED.status, last_event = EXCLUDED.last_event,
        first_event_at = EXCLUDED.first_event_at, last_event_at = EXCLUDED.last_event_at,
        lifetime_value = EXCLUDED.lifetime_value, lifetime_value_by_currency = EXCLUDED.lifetime_value_by_currency,
        products = EXCLUDED.products,
        last_product = EXCLUDED.last_product, subscription = EXCLUDED.subscription, club = EXCLUDED.club,
        cart = EXCLUDED.cart, facts_hash = EXCLUDED.facts_hash,
        updated_at = CASE WHEN hotmart.contacts.facts_hash IS DISTINCT FROM EXCLUDED.facts_hash
                          THEN now() ELSE hotmart.contacts.updated_at END
    """
)
QUARANTINE = sa.text(
    "INSERT INTO hotmart.webhook_quarantine (source, reason, event_id, body) "
    "VALUES ('processor', :reason, :event_id, :body)"
)
MARK_PROCESSED = sa.text(
    "UPDATE hotmart.webhook_inbox SET processed_at = now(), attempts = attempts + 1, last_error = NULL "
    "WHERE id = ANY(:ids)"
)
MARK_FAILED = sa.text(
    "UPDATE hotmart.webhook_inbox SET attempts = attempts + 1, last_error = :error "
    "WHERE id = ANY(:ids) AND processed_at IS NULL"
)


@dataclass
class BatchResult:
    events: int = 0
    applied: int = 0
    quarantined: int = 0
    sales: int = 0
    contacts: int = 0
    event_types: dict[str, int] = field(default_factory=dict)

    def add(self, other: BatchResult) -> None:
        for name in ("events", "applied", "quarantined", "sales", "contacts"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for event, count in other.event_types.items():
            self.event_types[event] = self.event_types.get(event, 0) + count


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _typed_row(event: HotmartEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event": event.event,
        "occurred_at": event.occurred_at,
        "email": event.email,
        "transaction": event.transaction,
        "product_id": event.product_id,
        "product_name": event.product_name,
        "offer_code": event.offer_code,
        "status": event.status or event.subscription_status,
        "price": event.price,
        "currency": event.currency,
        "facts": _json(event.facts()),
    }


def _erased(conn: Connection, emails: set[str]) -> set[str]:
    """E-mails erased under LGPD (ops.erasures): their events are applied without personal data."""
    if not emails:
        return set()
    hashes = {email_sha256(e): e for e in emails}
    rows = conn.execute(
        sa.text("SELECT email_sha256 FROM ops.erasures WHERE email_sha256 = ANY(:h)"), {"h": list(hashes)}
    )
    return {hashes[row[0]] for row in rows}


def _anonymised(event: HotmartEvent) -> HotmartEvent:
    cleared = dict.fromkeys(("email", *rebuild.PERSON_FIELDS))
    return event.model_copy(update=cleared)


EVENTS_BY = {
    "transaction": sa.text("SELECT transaction, facts FROM hotmart.events WHERE transaction = ANY(:keys)"),
    "email": sa.text("SELECT email, facts FROM hotmart.events WHERE email = ANY(:keys)"),
}


def _events_of(conn: Connection, key: str, values: Sequence[str]) -> dict[str, list[HotmartEvent]]:
    """All applied events of the given transactions or e-mails, grouped by that key."""
    grouped: dict[str, list[HotmartEvent]] = defaultdict(list)
    if values:
        for value, facts in conn.execute(EVENTS_BY[key], {"keys": list(values)}):
            grouped[value].append(HotmartEvent.model_validate(facts))
    return grouped


def _rebuild_sales(conn: Connection, transactions: set[str]) -> int:
    sales = [
        rebuild.build_sale(t, events)
        for t, events in _events_of(conn, "transaction", sorted(transactions)).items()
    ]
    sales = [sale for sale in sales if sale["status"]]
    if sales:
        conn.execute(
            UPSERT_SALE,
            [
                {**s, "commissions": _json(s["commissions"]), "status_history": _json(s["status_history"])}
                for s in sales
            ],
        )
    return len(sales)


def _rebuild_contacts(conn: Connection, emails: set[str]) -> int:
    if not emails:
        return 0
    sales: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows = conn.execute(
        sa.text(
            "SELECT buyer_email, status, product_id, product_name, price, currency, last_event_at "
            "FROM hotmart.sales WHERE buyer_email = ANY(:emails)"
        ),
        {"emails": sorted(emails)},
    )
    for row in rows.mappings():
        sales[row["buyer_email"]].append(dict(row))
    contacts = [
        rebuild.build_contact(email, events, sales.get(email, []))
        for email, events in _events_of(conn, "email", sorted(emails)).items()
    ]
    if contacts:
        conn.execute(
            UPSERT_CONTACT,
            [
                {
                    **c,
                    **{
                        k: _json(c[k])
                        for k in ("products", "subscription", "club", "cart", "lifetime_value_by_currency")
                    },
                }
                for c in contacts
            ],
        )
    return len(contacts)


def apply_batch(conn: Connection, rows: Sequence[Any]) -> BatchResult:
    """Apply already-locked inbox rows inside the caller's transaction."""
    result = BatchResult(events=len(rows))
    parsed: list[HotmartEvent] = []
    audit: list[dict[str, Any]] = []
    for row in rows:
        result.event_types[row.event] = result.event_types.get(row.event, 0) + 1
        try:
            event = parse_event(json.loads(row.payload))
        except (EnvelopeError, UnusableEvent) as error:
            conn.execute(
                QUARANTINE,
                {"reason": str(error), "event_id": row.event_id, "body": row.payload[:QUARANTINE_BODY_CHARS]},
            )
            audit.append(
                {
                    "actor": ACTOR,
                    "action": "hotmart.event_quarantined",
                    "subject": row.event_id,
                    "detail": {"event": row.event, "reason": str(error)},
                }
            )
            result.quarantined += 1
            continue
        if event.occurred_at is None:  # no usable creation date: order it by when it arrived
            event = event.model_copy(update={"occurred_at": row.creation_date or row.received_at})
        parsed.append(event)

    erased = _erased(conn, {e.email for e in parsed if e.email})
    parsed = [_anonymised(e) if e.email in erased else e for e in parsed]
    if parsed:
        conn.execute(INSERT_EVENT, [_typed_row(e) for e in parsed])
    result.applied = len(parsed)
    result.sales = _rebuild_sales(conn, {e.transaction for e in parsed if e.transaction})
    result.contacts = _rebuild_contacts(conn, {e.email for e in parsed if e.email})
    audit.extend(
        {
            "actor": ACTOR,
            "action": "hotmart.event_applied",
            "subject": e.email,
            "subject_is_email": True,
            "detail": {
                "event_id": e.event_id,
                "event": e.event,
                "transaction": e.transaction,
                "status": e.status,
            },
        }
        for e in parsed
    )
    audit.append(
        {
            "actor": ACTOR,
            "action": "hotmart.batch_applied",
            "subject": None,
            "detail": {
                "events": result.events,
                "applied": result.applied,
                "quarantined": result.quarantined,
                "sales": result.sales,
                "contacts": result.contacts,
            },
        }
    )
    audit_many(conn, audit)
    conn.execute(MARK_PROCESSED, {"ids": [row.id for row in rows]})
    return result


def _pending(conn: Connection, event_ids: Sequence[str] | None, limit: int) -> list[Any]:
    only = "AND event_id = ANY(:event_ids)" if event_ids is not None else ""
    params: dict[str, Any] = {"limit": limit}
    if event_ids is not None:
        params["event_ids"] = list(event_ids)
    return list(conn.execute(sa.text(SELECT_PENDING.format(only=only)), params))


def process_pending(
    engine: Engine, event_ids: Sequence[str] | None = None, batch_size: int = 500
) -> BatchResult:
    """Apply pending inbox events, `batch_size` per transaction: only `event_ids` when given, else
    everything pending (an operator's catch-up). A failing batch is rolled back, its rows get
    attempts+1 and last_error, and the error propagates (the run fails and can be retried)."""
    total = BatchResult()
    while True:
        ids: list[int] = []
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
                rows = _pending(conn, event_ids, batch_size)
                ids = [row.id for row in rows]
                if not rows:
                    return total
                total.add(apply_batch(conn, rows))
        except Exception as error:
            if ids:
                lines = str(getattr(error, "orig", None) or error).strip().splitlines() or [""]
                reason = redact(f"{type(error).__name__}: {lines[0]}")[:1000]  # no SQL parameters, no e-mails
                with engine.begin() as conn:
                    conn.execute(MARK_FAILED, {"ids": ids, "error": reason})
            raise
        if event_ids is not None and len(ids) < batch_size:
            return total
