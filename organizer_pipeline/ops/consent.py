"""What a Hotmart event may bring back after an LGPD erasure (the consent policy).

- The erasure suppresses everything received up to it. The person is remembered only as the SHA-256 of the
  address (`ops.erasures`), never the address.
- A new purchase created after the erasure is a new relationship the buyer started by giving their data
  again: it lifts the suppression (recorded in `ops.erasures.consent_*` with its event and source) and is
  processed normally, as is every later event of that person.
- Events dated before that consent — the whole old relationship, however late they arrive — never bring data
  back: they are applied without personal data and their stored payload is scrubbed.

The same rule in SQL is `ai.is_erased(email)` (migration 0004), which the enrichment assets and the Brevo
sync filter on, so nobody suppressed is profiled or pushed to Brevo and a lifted suppression lets them through.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from organizer_pipeline.ops.audit import audit
from organizer_pipeline.ops.email_match import EmailMatch
from organizer_pipeline.ops.erase import scrub
from organizer_pipeline.privacy import email_key, email_sha256

# A checkout: the buyer typed their data into a new order. Refunds, cancellations, subscription and club
# events belong to a relationship that already exists.
CONSENT_EVENTS = frozenset({"PURCHASE_APPROVED", "PURCHASE_COMPLETE", "PURCHASE_BILLET_PRINTED"})
ACTOR = "consent"


class Event(Protocol):
    """What the policy reads of an event (hotmart.payloads.HotmartEvent has these)."""

    event_id: str
    event: str
    email: str | None
    occurred_at: datetime | None
    order_date: datetime | None


def is_suppressed(conn: Connection, email: str) -> bool:
    """True when this person was erased and has not started a new relationship since."""
    return bool(conn.execute(sa.text("select ai.is_erased(:email)"), {"email": email_key(email)}).scalar())


def record_consent(conn: Connection, email: str, event_id: str, at: datetime, source: str = "") -> bool:
    """A consent dated after the erasure lifts the suppression from `at` on; an earlier consent than the one
    recorded (events arrive out of order) moves it back. True when this call changed the record."""
    return (
        conn.execute(
            sa.text(
                "update ops.erasures set consent_at = :at, consent_event_id = :event_id, "
                "consent_source = :source "
                "where email_sha256 = :sha and erased_at < :at and (consent_at is null or consent_at > :at)"
            ),
            {"sha": email_sha256(email), "event_id": event_id, "at": at, "source": source or None},
        ).rowcount
        > 0
    )


def _is_new_purchase(event: Event, erased_at: datetime) -> bool:
    created = event.order_date or event.occurred_at
    return (
        event.event in CONSENT_EVENTS
        and event.occurred_at is not None
        and event.occurred_at > erased_at
        and created is not None
        and created > erased_at
    )


def suppressed_events(conn: Connection, events: Iterable[Event]) -> set[str]:
    """Ids of the events to apply without personal data. New purchases among them lift the suppression
    first (so later events of the same batch pass); the stored payloads of suppressed events are scrubbed.
    Runs inside the caller's transaction."""
    events = list(events)
    emails = {event.email for event in events if event.email}
    if not emails:
        return set()
    hashes = {email_sha256(email): email for email in emails}
    register: dict[str, tuple[datetime, datetime | None]] = {
        hashes[row.email_sha256]: (row.erased_at, row.consent_at)
        for row in conn.execute(
            sa.text(
                "select email_sha256, erased_at, consent_at from ops.erasures where email_sha256 = any(:h)"
            ),
            {"h": list(hashes)},
        )
    }
    if not register:
        return set()
    ordered = sorted(
        (e for e in events if e.email in register and e.occurred_at is not None), key=lambda e: e.occurred_at
    )
    for event in ordered:
        erased_at, consent_at = register[event.email]
        if _is_new_purchase(event, erased_at) and (consent_at is None or event.occurred_at < consent_at):
            source = f"hotmart {event.event}"
            record_consent(conn, event.email, event.event_id, event.occurred_at, source)
            detail = {"event_id": event.event_id, "source": source}
            audit(conn, ACTOR, "consent.new_purchase", event.email, detail, subject_is_email=True)
            register[event.email] = (erased_at, event.occurred_at)
    suppressed = {}
    for event in events:
        if event.email not in register:
            continue
        consent_at = register[event.email][1]
        if consent_at is None or event.occurred_at is None or event.occurred_at < consent_at:
            suppressed[event.event_id] = event.email
    _scrub_payloads(conn, suppressed)
    return set(suppressed)


def _scrub_payloads(conn: Connection, suppressed: dict[str, str]) -> None:
    """The inbox keeps each event as received: remove the person from the payloads of suppressed events."""
    if not suppressed:
        return
    rows = conn.execute(
        sa.text("select event_id, payload from hotmart.webhook_inbox where event_id = any(:ids)"),
        {"ids": list(suppressed)},
    ).all()
    for row in rows:
        match = EmailMatch(suppressed[row.event_id])
        cleaned: Any = scrub(row.payload, match)
        if cleaned != row.payload:
            conn.execute(
                sa.text("update hotmart.webhook_inbox set payload = cast(:p as jsonb) where event_id = :id"),
                {"p": json.dumps(cleaned, ensure_ascii=False), "id": row.event_id},
            )
