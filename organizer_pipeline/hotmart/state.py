"""The sale state machine: which purchase event may move a sale from which status to which.

Hotmart delivers at least once and out of order, so a sale's status is never "the last event received".
It is the fold of the transaction's events sorted by (creation date, precedence, event id) through the
TRANSITIONS table below. Because the fold only depends on the SET of events, duplicates and any arrival
order give the same result, and a late PURCHASE_APPROVED cannot bring back a refunded, charged-back or
cancelled sale (those states accept nothing that would undo them).

Statuses are Hotmart's `purchase.status` strings, keyed on the event (Hotmart's live status strings differ
from its own documentation, see contracts/hotmart.md A.4; the raw one is kept in `status_history`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

EVENT_STATUS: dict[str, str] = {
    "PURCHASE_BILLET_PRINTED": "BILLET_PRINTED",
    "PURCHASE_DELAYED": "DELAYED",
    "PURCHASE_EXPIRED": "EXPIRED",
    "PURCHASE_APPROVED": "APPROVED",
    "PURCHASE_PROTEST": "DISPUTE",
    "PURCHASE_COMPLETE": "COMPLETE",
    "PURCHASE_CANCELED": "CANCELED",
    "PURCHASE_REFUNDED": "REFUNDED",
    "PURCHASE_CHARGEBACK": "CHARGEBACK",
}
# Tie-break for events with the same creation date: the one further along the life of a sale goes last.
PRECEDENCE = {status: rank for rank, status in enumerate(EVENT_STATUS.values())}

PENDING = frozenset({"BILLET_PRINTED", "DELAYED"})
PAID = frozenset({"APPROVED", "COMPLETE"})  # money kept: counts as revenue and lifetime value
FINAL = frozenset({"REFUNDED", "CHARGEBACK", "CANCELED", "EXPIRED"})

# current status (None = no event yet) -> statuses it may move to
TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset(EVENT_STATUS.values()),
    "BILLET_PRINTED": frozenset({"BILLET_PRINTED", "DELAYED", "EXPIRED", "APPROVED", "CANCELED"}),
    "DELAYED": frozenset({"BILLET_PRINTED", "DELAYED", "EXPIRED", "APPROVED", "CANCELED"}),
    "APPROVED": frozenset({"COMPLETE", "DISPUTE", "REFUNDED", "CHARGEBACK", "CANCELED"}),
    "DISPUTE": frozenset({"APPROVED", "COMPLETE", "REFUNDED", "CHARGEBACK"}),  # a dispute can be won
    "COMPLETE": frozenset({"DISPUTE", "REFUNDED", "CHARGEBACK"}),
    "REFUNDED": frozenset(),
    "CHARGEBACK": frozenset(),
    "CANCELED": frozenset(),
    "EXPIRED": frozenset(),
}


def status_for_event(event: str) -> str | None:
    return EVENT_STATUS.get(event)


def can_move(current: str | None, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True)
class Step:
    event_id: str
    event: str
    status: str
    at: datetime | None


@dataclass
class Outcome:
    status: str | None = None
    history: list[dict] = field(default_factory=list)
    last_applied: Step | None = None


def sort_key(step: Step) -> tuple:
    return (step.at is None, step.at or datetime.min, PRECEDENCE.get(step.status, 99), step.event_id)


def fold(steps: Iterable[Step]) -> Outcome:
    """Run the state machine over a transaction's events; every event lands in the history, with whether
    it moved the sale."""
    outcome = Outcome()
    for step in sorted(steps, key=sort_key):
        applied = can_move(outcome.status, step.status) and step.status != outcome.status
        outcome.history.append(
            {
                "event_id": step.event_id,
                "event": step.event,
                "status": step.status,
                "at": step.at.isoformat() if step.at else None,
                "applied": applied,
                "from": outcome.status,
            }
        )
        if applied:
            outcome.status = step.status
            outcome.last_applied = step
    return outcome
