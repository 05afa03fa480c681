"""Rebuild one sale or one contact from its events: plain functions over HotmartEvent lists.

Both are pure folds over the full event history of the key, so applying the same events again, in
another order or with duplicates, yields the same row."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from organizer_pipeline.hotmart import state
from organizer_pipeline.hotmart.payloads import CART_EVENT, CLUB_EVENTS, HotmartEvent

PERSON_FIELDS = ("name", "first_name", "last_name", "phone", "document", "city", "state", "country")
SALE_FIELDS = (
    "product_id",
    "product_name",
    "offer_code",
    "price",
    "currency",
    "payment_type",
    "installments",
    "producer_commission",
    "order_date",
)


def chronological(events: Sequence[HotmartEvent]) -> list[HotmartEvent]:
    return sorted(
        events,
        key=lambda e: (
            e.occurred_at is None,
            e.occurred_at.timestamp() if e.occurred_at else 0,
            state.PRECEDENCE.get(e.status or "", 99),
            e.event_id,
        ),
    )


def latest(events: Sequence[HotmartEvent], name: str) -> Any:
    """The value of `name` in the most recent event that has one (events already chronological)."""
    for event in reversed(events):
        value = getattr(event, name)
        if value not in (None, [], ""):
            return value
    return None


def build_sale(transaction: str, events: Sequence[HotmartEvent]) -> dict[str, Any]:
    """The hotmart.sales row of one transaction."""
    ordered = chronological(events)
    outcome = state.fold(
        state.Step(e.event_id, e.event, e.status, e.occurred_at) for e in ordered if e.status
    )
    history = outcome.history
    raw = {e.event_id: e.raw_status for e in ordered}
    for entry in history:
        entry["raw_status"] = raw.get(entry["event_id"])
    approved = [e.approved_at for e in ordered if e.approved_at]
    return {
        "transaction": transaction,
        "status": outcome.status,
        **{name: latest(ordered, name) for name in SALE_FIELDS},
        "commissions": latest(ordered, "commissions") or [],
        "buyer_email": latest(ordered, "email"),
        "approved_at": min(approved) if approved else None,
        "status_history": history,
        "last_event_id": ordered[-1].event_id,
        "last_event_at": max((e.occurred_at for e in ordered if e.occurred_at), default=None),
    }


def _products(sales: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    by_product: dict[str, dict[str, Any]] = {}
    for sale in sales:
        key = str(sale.get("product_id") or sale.get("product_name"))
        entry = by_product.setdefault(
            key, {"id": sale.get("product_id"), "name": sale.get("product_name"), "paid": 0, "statuses": []}
        )
        entry["paid"] += sale["status"] in state.PAID
        entry["statuses"] = sorted({*entry["statuses"], sale["status"]})
    return sorted(by_product.values(), key=lambda p: (str(p["id"]), str(p["name"])))


def _subscription(events: Sequence[HotmartEvent]) -> dict[str, Any] | None:
    subscribed = [e for e in events if e.subscriber_code or e.subscription_status]
    if not subscribed:
        return None
    last = subscribed[-1]
    return {
        "subscriber_code": latest(subscribed, "subscriber_code"),
        "status": latest(subscribed, "subscription_status"),
        "plan": latest(subscribed, "plan_name"),
        "product": latest(subscribed, "product_name"),
        "next_charge_at": last.next_charge_at.isoformat() if last.next_charge_at else None,
        "last_event": last.event,
        "cancelled": last.event == "SUBSCRIPTION_CANCELLATION",
    }


def _club(events: Sequence[HotmartEvent]) -> dict[str, Any] | None:
    club = [e for e in events if e.event in CLUB_EVENTS]
    if not club:
        return None
    first = [e.occurred_at for e in club if e.event == "CLUB_FIRST_ACCESS" and e.occurred_at]
    return {
        "first_access_at": min(first).isoformat() if first else None,
        "products": sorted({e.product_name for e in club if e.product_name}),
        "modules_completed": sorted({e.module_name for e in club if e.module_name}),
    }


def _cart(events: Sequence[HotmartEvent], sales: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The last cart abandonment, and whether the same product was bought afterwards."""
    carts = [e for e in events if e.event == CART_EVENT]
    if not carts:
        return None
    last = carts[-1]
    recovered = any(
        s["status"] in state.PAID
        and s.get("product_id") == last.product_id
        and (
            s.get("last_event_at") is None
            or last.occurred_at is None
            or s["last_event_at"] >= last.occurred_at
        )
        for s in sales
    )
    return {
        "abandoned_at": last.occurred_at.isoformat() if last.occurred_at else None,
        "product": last.product_name,
        "abandonments": len(carts),
        "recovered": recovered,
    }


# `lifetime_value` is in this currency; the others are only in `lifetime_value_by_currency` (never summed).
HOME_CURRENCY = "BRL"
NO_CURRENCY = "XXX"  # ISO 4217 "no currency": a sale that did not say (kept apart, never counted as BRL)


def lifetime_value_by_currency(sales: Sequence[dict[str, Any]]) -> dict[str, Decimal]:
    """Money kept (paid sales), per currency."""
    totals: dict[str, Decimal] = {}
    for sale in sales:
        if sale["status"] in state.PAID:
            currency = sale.get("currency") or NO_CURRENCY
            totals[currency] = totals.get(currency, Decimal(0)) + (sale["price"] or Decimal(0))
    return dict(sorted(totals.items()))


def contact_status(sales: Sequence[dict[str, Any]]) -> str:
    """CUSTOMER: at least one sale paid and kept; REFUNDED: bought, but every paid sale was undone; LEAD:
    never paid (cart abandoned, boleto/PIX not paid, card refused, club/subscription events only)."""
    if any(s["status"] in state.PAID for s in sales):
        return "CUSTOMER"
    if any(s["status"] in ("REFUNDED", "CHARGEBACK") for s in sales):
        return "REFUNDED"
    return "LEAD"


def facts_hash(contact: dict[str, Any]) -> str:
    """Hash of what a profile or a CRM sync depends on; timestamps of our own writes are left out."""
    keys = (
        *PERSON_FIELDS,
        "status",
        "last_event",
        "last_product",
        "lifetime_value",
        "lifetime_value_by_currency",
        "products",
        "subscription",
        "club",
        "cart",
    )
    material = {key: contact.get(key) for key in keys}
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def build_contact(
    email: str, events: Sequence[HotmartEvent], sales: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The hotmart.contacts row of one e-mail, from its events and its (already rebuilt) sales."""
    ordered = chronological(events)
    moments = [e.occurred_at for e in ordered if e.occurred_at]
    ltv = lifetime_value_by_currency(sales)
    contact = {
        "email": email,
        **{name: latest(ordered, name) for name in PERSON_FIELDS},
        "status": contact_status(sales),
        "last_event": ordered[-1].event if ordered else None,
        "first_event_at": min(moments, default=None),
        "last_event_at": max(moments, default=None),
        "lifetime_value": ltv.get(HOME_CURRENCY, Decimal(0)),
        "lifetime_value_by_currency": {currency: float(total) for currency, total in ltv.items()},
        "products": _products(sales),
        "last_product": latest(ordered, "product_name"),
        "subscription": _subscription(ordered),
        "club": _club(ordered),
        "cart": _cart(ordered, sales),
    }
    contact["facts_hash"] = facts_hash(contact)
    return contact
