"""Apply pending inbox events to hotmart.events, hotmart.sales and hotmart.contacts.

One batch = one transaction: the typed events, the rebuilt sales and contacts, the audit lines and the
`processed_at` marks commit together. Runs serialize on an advisory lock, so two runs never rebuild the same
contact at once.

When a batch fails because of what one event holds (a value the database refuses, a bug one payload hits),
the batch is applied again event by event, each under a savepoint: an event that fails alone is failed and
quarantined with its reason, the others are applied. When it fails because of the database itself
(connection lost, read-only, a lock or statement timeout, a missing privilege), nothing is applied and its
events stay pending with attempts+1, until MAX_ATTEMPTS, when they are failed too: no event is retried for
ever. Failures leave this module as one line (InboxBatchFailed) without SQL parameters, DETAIL lines or
personal data: the driver's text can carry other buyers' e-mails, and it would reach Dagster's event log."""

from __future__ import annotations

import json
import traceback
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from organizer_pipeline.db.engine import explain_database_error
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.hotmart import rebuild
from organizer_pipeline.hotmart.payloads import EnvelopeError, HotmartEvent, UnusableEvent, parse_event
from organizer_pipeline.ops.audit import audit_many
from organizer_pipeline.ops.consent import suppressed_events
from organizer_pipeline.privacy import redact

ACTOR = "hotmart_inbox"
LOCK_KEY = 0x484F544D  # "HOTM": pg_advisory_xact_lock key of the apply step
QUARANTINE_BODY_CHARS = 65_536
REASON_CHARS = 1000
# A batch that failed on the database this many times is given up (failed, quarantined): with the
# sensor's back-off that is about an hour of failures, so a restart or a deploy heals on its own.
MAX_ATTEMPTS = 10
# Every processing transaction is bounded: a table lock held elsewhere (a migration, VACUUM FULL) or a
# runaway statement fails the batch, which the next run retries, instead of blocking every run for ever.
LOCK_TIMEOUT = "30s"
STATEMENT_TIMEOUT = "5min"
# SQLSTATE classes about the values written, not the database's state: data exception (22: numeric value
# out of range, invalid text…) and integrity constraint violation (23). Everything else is environmental.
DATA_ERROR_CLASSES = ("22", "23")

SELECT_PENDING = """
    SELECT id, event_id, event, creation_date, received_at, attempts, payload::text AS payload
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
    "UPDATE hotmart.webhook_inbox SET processed_at = now(), attempts = attempts + 1, last_error = NULL, "
    "failed_at = NULL WHERE id = ANY(:ids)"
)
MARK_FAILED = sa.text(
    "UPDATE hotmart.webhook_inbox SET processed_at = now(), failed_at = now(), attempts = :attempts, "
    "last_error = :reason WHERE id = :id"
)
MARK_ATTEMPT = sa.text(
    "UPDATE hotmart.webhook_inbox SET attempts = attempts + 1, last_error = :reason "
    "WHERE id = ANY(:ids) AND processed_at IS NULL "
    "RETURNING id, event_id, event, attempts, payload::text AS payload"
)
REQUEUE = """
    UPDATE hotmart.webhook_inbox SET processed_at = NULL, failed_at = NULL, attempts = 0
    WHERE failed_at IS NOT NULL {only}
"""


class InboxBatchFailed(OrganizerError):
    """A batch could not be applied; its events stay pending (or were failed). One line, no personal data."""


@dataclass
class FailedEvent:
    """An event the processor gave up on: kept in the inbox (failed_at) and in the quarantine."""

    event_id: str
    event: str
    reason: str
    attempts: int


@dataclass
class BatchResult:
    events: int = 0
    applied: int = 0
    quarantined: int = 0  # failed events: unusable, failed alone, or out of attempts
    sales: int = 0
    contacts: int = 0
    event_types: dict[str, int] = field(default_factory=dict)
    failures: list[FailedEvent] = field(default_factory=list)

    def add(self, other: BatchResult) -> None:
        for name in ("events", "applied", "quarantined", "sales", "contacts"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for event, count in other.event_types.items():
            self.event_types[event] = self.event_types.get(event, 0) + count
        self.failures.extend(other.failures)

    def counts(self) -> dict[str, int]:
        return {"events": self.events, "applied": self.applied, "failed": self.quarantined}


def reason_of(error: BaseException) -> str:
    """One line saying what failed: the driver's first line (no SQL, no parameters, no DETAIL), or a
    Python error with where it was raised; personal data masked."""
    if isinstance(error, sa.exc.DBAPIError) and error.orig is not None:
        name, text, where = type(error.orig).__name__, str(error.orig), ""
    else:
        frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
        name, text = type(error).__name__, str(error)
        where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    first = (text.strip().splitlines() or [""])[0]
    return redact(f"{name}: {first}{where}")[:REASON_CHARS]


def is_environmental(error: BaseException) -> bool:
    """True when the database's state failed the write (retry later), False when the data did."""
    if isinstance(error, sa.exc.DBAPIError):
        code = getattr(error.orig, "pgcode", None) or ""
        return error.connection_invalidated or code[:2] not in DATA_ERROR_CLASSES
    if isinstance(error, sa.exc.StatementError):  # a value the driver could not even send
        return False
    return isinstance(error, sa.exc.SQLAlchemyError | OSError)


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


def _fail(conn: Connection, items: Sequence[tuple[Any, str, int]]) -> list[FailedEvent]:
    """Close inbox rows (row, reason, attempts) as failed: quarantine row, failed_at, audit line. The
    reasons are ours (the parser's, or reason_of's, already masked): no personal data."""
    if not items:
        return []
    reasons = [(row, reason[:REASON_CHARS], attempts) for row, reason, attempts in items]
    conn.execute(
        QUARANTINE,
        [
            {"reason": reason, "event_id": row.event_id, "body": row.payload[:QUARANTINE_BODY_CHARS]}
            for row, reason, _ in reasons
        ],
    )
    conn.execute(
        MARK_FAILED,
        [{"id": row.id, "reason": reason, "attempts": attempts} for row, reason, attempts in reasons],
    )
    audit_many(
        conn,
        [
            {
                "actor": ACTOR,
                "action": "hotmart.event_quarantined",
                "subject": row.event_id,
                "detail": {"event": row.event, "reason": reason, "attempts": attempts},
            }
            for row, reason, attempts in reasons
        ],
    )
    return [FailedEvent(row.event_id, row.event, reason, attempts) for row, reason, attempts in reasons]


def apply_batch(conn: Connection, rows: Sequence[Any]) -> BatchResult:
    """Apply already-locked inbox rows inside the caller's transaction."""
    result = BatchResult(events=len(rows))
    parsed: list[HotmartEvent] = []
    applied_ids: list[int] = []
    unusable: list[tuple[Any, str, int]] = []
    for row in rows:
        result.event_types[row.event] = result.event_types.get(row.event, 0) + 1
        try:
            event = parse_event(json.loads(row.payload))
        except (EnvelopeError, UnusableEvent) as error:
            unusable.append((row, str(error), row.attempts + 1))
            continue
        if event.occurred_at is None:  # no usable creation date: order it by when it arrived
            event = event.model_copy(update={"occurred_at": row.creation_date or row.received_at})
        parsed.append(event)
        applied_ids.append(row.id)

    # LGPD: erased people's events go without personal data, unless a new purchase (ops/consent.py).
    suppressed = suppressed_events(conn, parsed)
    parsed = [_anonymised(e) if e.event_id in suppressed else e for e in parsed]
    if parsed:
        conn.execute(INSERT_EVENT, [_typed_row(e) for e in parsed])
    result.applied = len(parsed)
    result.sales = _rebuild_sales(conn, {e.transaction for e in parsed if e.transaction})
    result.contacts = _rebuild_contacts(conn, {e.email for e in parsed if e.email})
    audit_many(
        conn,
        [
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
        ],
    )
    if applied_ids:
        conn.execute(MARK_PROCESSED, {"ids": applied_ids})
    result.failures = _fail(conn, unusable)
    result.quarantined = len(result.failures)
    return result


def _apply_one_by_one(conn: Connection, rows: Sequence[Any]) -> BatchResult:
    """The batch again, each event under its own savepoint: an event that fails alone is failed, the
    others are applied. An environmental error aborts (the caller retries the whole batch later)."""
    result = BatchResult()
    failing: list[tuple[Any, str, int]] = []
    for row in rows:
        try:
            with conn.begin_nested():
                result.add(apply_batch(conn, [row]))
        except Exception as error:
            if is_environmental(error):
                raise
            failing.append((row, reason_of(error), row.attempts + 1))
    if len(failing) > 1 and len(failing) == len(rows):
        # Nothing in the batch could be written: that says more about the warehouse (a schema or a
        # constraint changed) than about the events. Retry later, bounded by MAX_ATTEMPTS.
        raise InboxBatchFailed(f"every event of the batch failed alone, e.g. {failing[0][1]}")
    failed = _fail(conn, failing)
    result.failures.extend(failed)
    result.quarantined += len(failed)
    result.events += len(failed)
    for row, _, _ in failing:
        result.event_types[row.event] = result.event_types.get(row.event, 0) + 1
    return result


def _audit_batch(conn: Connection, result: BatchResult) -> None:
    audit_many(
        conn,
        [
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
        ],
    )


def _claim(conn: Connection, only: str, params: dict[str, Any]) -> list[Any]:
    """Bound the transaction, take the apply lock, lock the pending rows chosen by `only`."""
    conn.execute(
        sa.text(
            "SELECT set_config('lock_timeout', :lock, true), set_config('statement_timeout', :stmt, true)"
        ),
        {"lock": LOCK_TIMEOUT, "stmt": STATEMENT_TIMEOUT},
    )
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    return list(conn.execute(sa.text(SELECT_PENDING.format(only=only)), params))


def _pending(conn: Connection, event_ids: Sequence[str] | None, limit: int) -> list[Any]:
    if event_ids is None:
        return _claim(conn, "", {"limit": limit})
    return _claim(conn, "AND event_id = ANY(:event_ids)", {"limit": limit, "event_ids": list(event_ids)})


def _retry_later(engine: Engine, ids: list[int], error: BaseException) -> InboxBatchFailed:
    """Count a failed attempt on the batch's rows and give up on those out of attempts; the error to raise.
    Best effort: when the database itself is gone, nothing can be recorded and the next run retries."""
    reason = error.args[0] if isinstance(error, InboxBatchFailed) else reason_of(error)
    gave_up: list[FailedEvent] = []
    try:
        with engine.begin() as conn:
            rows = conn.execute(MARK_ATTEMPT, {"ids": ids, "reason": reason}).fetchall()
            exhausted = [
                (row, f"gave up after {row.attempts} attempts: {reason}", row.attempts)
                for row in rows
                if row.attempts >= MAX_ATTEMPTS
            ]
            gave_up = _fail(conn, exhausted)
    except Exception:  # noqa: BLE001, S110 - the run fails either way with the original reason
        pass
    message = f"hotmart: a batch of {len(ids)} events could not be applied and stays pending: {reason}"
    if gave_up:
        message += f" ({len(gave_up)} of them failed for good after {MAX_ATTEMPTS} attempts)"
    return InboxBatchFailed(message)


def _process_batch(engine: Engine, event_ids: Sequence[str] | None, limit: int) -> BatchResult | None:
    """One batch: applied whole, else event by event; None when nothing is pending."""
    ids: list[int] = []
    try:
        with engine.begin() as conn:
            rows = _pending(conn, event_ids, limit)
            if not rows:
                return None
            ids = [row.id for row in rows]
            result = apply_batch(conn, rows)
            _audit_batch(conn, result)
            return result
    except Exception as error:
        if not ids:  # nothing claimed: the database itself (unreachable, not migrated) is the problem
            reason = explain_database_error(error) if isinstance(error, sa.exc.DBAPIError) else reason_of(error)
            raise InboxBatchFailed(f"hotmart: cannot read the inbox: {reason}") from None
        if is_environmental(error):
            raise _retry_later(engine, ids, error) from None
    try:
        with engine.begin() as conn:
            rows = _claim(conn, "AND id = ANY(:ids)", {"limit": len(ids), "ids": ids})
            result = _apply_one_by_one(conn, rows)
            _audit_batch(conn, result)
            return result
    except Exception as error:
        raise _retry_later(engine, ids, error) from None


def requeue_failed(engine: Engine, event_ids: Sequence[str] | None = None) -> int:
    """Make failed events pending again (all, or those of `event_ids`), with a fresh attempt count."""
    only, params = (
        ("AND event_id = ANY(:ids)", {"ids": list(event_ids)}) if event_ids is not None else ("", {})
    )
    with engine.begin() as conn:
        return conn.execute(sa.text(REQUEUE.format(only=only)), params).rowcount


def process_pending(
    engine: Engine,
    event_ids: Sequence[str] | None = None,
    batch_size: int = 500,
    max_events: int | None = None,
) -> BatchResult:
    """Apply pending inbox events, `batch_size` per transaction: only `event_ids` when given (failed ones
    among them are retried: an operator asked for them), else everything pending, oldest first, up to
    `max_events`. Raises InboxBatchFailed when a batch could not be applied (its events stay pending)."""
    if event_ids is not None:
        requeue_failed(engine, event_ids)
    total = BatchResult()
    while max_events is None or total.events < max_events:
        limit = batch_size if max_events is None else min(batch_size, max_events - total.events)
        result = _process_batch(engine, event_ids, limit)
        if result is None:
            break
        total.add(result)
        if event_ids is not None and result.events < limit:
            break
    return total
