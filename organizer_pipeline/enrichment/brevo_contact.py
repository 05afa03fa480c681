"""What Brevo should hold for one contact — attributes, and list membership from THE event→lists mapping
applied per sale — and whether Brevo's copy already is that. Plain functions, no I/O."""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from organizer_pipeline.errors import ConfigError
from organizer_pipeline.hotmart import state

# THE mapping from Hotmart event to Brevo list membership: "+List" joins, "-List" leaves. Lists joined by a
# purchase event follow each sale (see `lists_for`); the others replay the contact's events in order.
DEFAULT_EVENT_LISTS: dict[str, list[str]] = {
    "PURCHASE_APPROVED": ["+Hotmart - Compradores", "-Hotmart - Carrinho abandonado"],
    "PURCHASE_COMPLETE": ["+Hotmart - Compradores", "-Hotmart - Carrinho abandonado"],
    "PURCHASE_REFUNDED": ["+Hotmart - Reembolsados", "-Hotmart - Compradores"],
    "PURCHASE_CHARGEBACK": ["+Hotmart - Reembolsados", "-Hotmart - Compradores"],
    "PURCHASE_OUT_OF_SHOPPING_CART": ["+Hotmart - Carrinho abandonado"],
    "SUBSCRIPTION_CANCELLATION": ["+Hotmart - Assinatura cancelada"],
}
# Our own contact attributes (Brevo needs them to exist before use), created once when missing.
ATTRIBUTES = {
    "HOTMART_STATUS": "text",
    "LTV": "float",
    "LTV_BY_CURRENCY": "text",
    "LAST_PRODUCT": "text",
    "AI_SEGMENT": "text",
}
Rules = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]


def parse_rules(mapping: Mapping[str, list[str]]) -> Rules:
    """{event: ["+Join", "-Leave"]} -> {event: (joins, leaves)}, refusing anything else."""
    rules: Rules = {}
    for event, operations in mapping.items():
        bad = [op for op in operations if op[:1] not in "+-" or not op[1:].strip()]
        if bad:
            raise ConfigError(f"event_lists[{event}]: {bad} — each entry is '+List name' or '-List name'")
        joins = tuple(op[1:].strip() for op in operations if op.startswith("+"))
        leaves = tuple(op[1:].strip() for op in operations if op.startswith("-"))
        rules[event.strip().upper()] = (joins, leaves)
    return rules


def parse_since(value: str | None) -> datetime | None:
    """`send_events_since`: an ISO date or date-time (UTC when no offset is given), or nothing."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"send_events_since: {value!r} is not an ISO date such as 2026-01-31") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def list_names(rules: Rules) -> set[str]:
    return {name for joins, leaves in rules.values() for name in (*joins, *leaves)}


def replay(events: list[str], rules: Rules) -> set[str]:
    """The lists a sequence of events (in the order they happened) ends in."""
    member: set[str] = set()
    for event in events:
        joins, leaves = rules.get(event, ((), ()))
        member = (member - set(leaves)) | set(joins)
    return member


def lists_for(events: list[dict[str, Any]], rules: Rules) -> set[str]:
    """The lists a contact belongs in. A list joined by a purchase event ("Compradores", "Reembolsados")
    follows each sale: the contact is in it while at least one sale's state — its events that the sale state
    machine applied — puts it there, so refunding one purchase never takes the buyer of another out of
    "Compradores". Other lists (cart, subscription) replay all the contact's events in order, so a purchase
    after an abandoned cart still leaves "Carrinho abandonado"."""
    sale_lists = {name for event in state.EVENT_STATUS for name in rules.get(event, ((), ()))[0]}
    member = replay([e["event"] for e in events], rules) - sale_lists
    sales: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if event["event"] in state.EVENT_STATUS:
            sales[event.get("transaction") or event["event_id"]].append(event)
    for sale in sales.values():
        steps = (
            state.Step(e["event_id"], e["event"], state.EVENT_STATUS[e["event"]], e.get("occurred_at"))
            for e in sale
        )
        applied = [entry["event"] for entry in state.fold(steps).history if entry["applied"]]
        member |= replay(applied, rules) & sale_lists
    return member


BRAZIL = {"BR", "BRA", "BRASIL", "BRAZIL"}


def e164(phone: str | None, country: str | None = None) -> str | None:
    """+5511999990000 when the number allows it (Brazilian numbers with DDD, or already international)."""
    if not phone:
        return None
    raw = phone.strip()
    digits = re.sub(r"\D", "", raw)
    if raw.startswith(("+", "00")):
        digits = digits[2:] if raw.startswith("00") else digits
        return f"+{digits}" if 8 <= len(digits) <= 15 else None
    if (country or "BR").strip().upper() not in BRAZIL:
        return None
    digits = digits.lstrip("0")  # trunk prefix (0xx11…)
    if len(digits) in (10, 11):
        return "+55" + digits
    if digits.startswith("55") and len(digits) in (12, 13):
        return "+" + digits
    return None


def ltv_text(by_currency: Any) -> str | None:
    """{"BRL": 497, "USD": 97} -> "BRL 497.00; USD 97.00" (amounts in different currencies are never added)."""
    if not isinstance(by_currency, dict) or not by_currency:
        return None
    return "; ".join(f"{currency} {float(total):.2f}" for currency, total in sorted(by_currency.items()))


def contact_attributes(contact: Mapping[str, Any], segment: str | None) -> dict[str, Any]:
    """HOTMART_STATUS comes from every sale's state (hotmart/rebuild.py `contact_status`); LTV is in BRL only
    (`hotmart.contacts.lifetime_value`), LTV_BY_CURRENCY lists every currency."""
    first = contact.get("first_name") or (str(contact.get("name") or "").split() or [None])[0]
    ltv = contact.get("lifetime_value")
    values = {
        "FIRSTNAME": first,
        "LASTNAME": contact.get("last_name"),
        "SMS": e164(contact.get("phone"), contact.get("country")),
        "HOTMART_STATUS": contact.get("status"),
        "LTV": float(ltv) if isinstance(ltv, int | float | Decimal) else None,
        "LTV_BY_CURRENCY": ltv_text(contact.get("lifetime_value_by_currency")),
        "LAST_PRODUCT": contact.get("last_product"),
        "AI_SEGMENT": segment,
    }
    return {key: value for key, value in values.items() if value not in (None, "")}


def change_hash(attributes: dict[str, Any], lists: set[str]) -> str:
    blob = json.dumps({"attributes": attributes, "lists": sorted(lists)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _same(have: Any, want: Any, key: str) -> bool:
    if key == "SMS":
        return re.sub(r"\D", "", str(have or "")) == re.sub(r"\D", "", str(want))
    if isinstance(want, int | float):
        try:
            return abs(float(have) - float(want)) < 0.005
        except (TypeError, ValueError):
            return False
    return str(have) == str(want)


def holds(
    contact: dict[str, Any] | None, attributes: dict[str, Any], wanted: list[int], leave: list[int]
) -> bool:
    """Whether Brevo's copy of a contact already is what we meant to send."""
    if contact is None:
        return False
    held = {str(key).upper(): value for key, value in contact["attributes"].items()}
    lists = set(contact["listIds"])
    return (
        all(_same(held.get(key), value, key) for key, value in attributes.items())
        and set(wanted) <= lists
        and not set(leave) & lists
    )
