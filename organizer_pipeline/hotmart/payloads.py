"""Parsing and validation of Hotmart webhook 2.0.0 payloads (every shape in contracts/hotmart.md).

Hotmart's payloads drift: `creation_date` or `creationDate`, product ids as int or string, prices as int or
float, `date_next_charge` as epoch ms or ISO text. Every getter here accepts those variants and turns
anything else into None instead of raising, so one odd field never blocks an event. Only what makes an
event unusable (no envelope id/event, a purchase without transaction, no e-mail to attach it to, a number
that does not fit the column it is written to) raises.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from organizer_pipeline.hotmart.state import status_for_event
from organizer_pipeline.privacy import email_key

PURCHASE_EVENTS = (
    "PURCHASE_APPROVED",
    "PURCHASE_COMPLETE",
    "PURCHASE_CANCELED",
    "PURCHASE_BILLET_PRINTED",
    "PURCHASE_PROTEST",
    "PURCHASE_REFUNDED",
    "PURCHASE_CHARGEBACK",
    "PURCHASE_EXPIRED",
    "PURCHASE_DELAYED",
)
CART_EVENT = "PURCHASE_OUT_OF_SHOPPING_CART"
SUBSCRIPTION_EVENTS = ("SUBSCRIPTION_CANCELLATION", "SWITCH_PLAN", "UPDATE_SUBSCRIPTION_CHARGE_DATE")
CLUB_EVENTS = ("CLUB_FIRST_ACCESS", "CLUB_MODULE_COMPLETED")
KNOWN_EVENTS = (*PURCHASE_EVENTS, CART_EVENT, *SUBSCRIPTION_EVENTS, *CLUB_EVENTS, "ORDER_FULFILLMENT")

MAX_ID_LENGTH = 200
_NAME_RE = re.compile(r"^[\x21-\x7e]{1,100}$")  # printable ASCII, no spaces: Hotmart event names
_MIN_TS_MS = 946_684_800_000  # 2000-01-01
_MAX_TS_MS = 4_102_444_800_000  # 2100-01-01
_CENT = Decimal("0.01")
_MAX_INTEGER = 2**31 - 1
_MAX_BIGINT = 2**63 - 1
# numeric(14,2) holds < 1e12; a price stays under 1e11 so that a buyer's lifetime value (a sum of prices,
# also numeric(14,2)) fits as well.
_MAX_MONEY = Decimal("1e11")
# Each number an event writes to a typed column, the column, and its largest absolute value. Checked before
# any write, so a value that does not fit is an UnusableEvent with its reason, never a database error
# failing a batch.
NUMBER_COLUMNS: dict[str, tuple[str, int | Decimal]] = {
    "product_id": ("hotmart.events.product_id (bigint)", _MAX_BIGINT),
    "installments": ("hotmart.sales.installments (integer)", _MAX_INTEGER),
    "price": ("hotmart.events.price (numeric(14,2), prices below 1e11)", _MAX_MONEY),
    "producer_commission": ("hotmart.sales.producer_commission (numeric(14,2), below 1e11)", _MAX_MONEY),
}


class EnvelopeError(ValueError):
    """The body is not a Hotmart envelope: answered 400 and quarantined."""


class UnusableEvent(ValueError):
    """A stored envelope whose content cannot be applied: quarantined by the processor with this reason."""


# --- tolerant getters -------------------------------------------------------------------------------


def dig(data: Any, *path: str) -> Any:
    """data[path[0]][path[1]]…, or None as soon as a level is missing or not an object."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def text(value: Any, limit: int = 500) -> str | None:
    """A non-empty, NUL-free string (numbers become text), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value[:limit] or None


def integer(value: Any) -> int | None:
    """int, integral float or digit string; anything else None (its range is checked by the column)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,40}\s*", value):
        value = int(value)
    return value if isinstance(value, int) else None


def money(value: Any) -> Decimal | None:
    """int, float or numeric string, rounded to cents; None when absent or not a finite number (its range
    is checked by the column)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value).strip()) if isinstance(value, int | float | str) else None
    except ArithmeticError:
        return None
    if amount is None or not amount.is_finite():
        return None
    try:
        return amount.quantize(_CENT)
    except ArithmeticError:  # too many digits to round to cents: far out of any column's range
        return amount


def check_ranges(event: str, fields: dict[str, Any]) -> None:
    """UnusableEvent naming the field when a number does not fit the column it is written to."""
    for name, (column, limit) in NUMBER_COLUMNS.items():
        value = fields.get(name)
        if value is not None and abs(value) > limit:
            raise UnusableEvent(f"{event}: {name} {value} does not fit {column}")


def timestamp(value: Any) -> datetime | None:
    """Epoch milliseconds (int, float or digit string), epoch seconds, or ISO-8601 text → aware UTC."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if re.fullmatch(r"\d{9,13}(\.\d+)?", stripped):
            value = float(stripped)
        else:
            try:
                parsed = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
            except ValueError:
                return None
            if not 2000 <= parsed.year < 2100:
                return None
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if isinstance(value, int | float) and math.isfinite(value):
        ms = value if value >= 1e11 else value * 1000  # seconds look like 1.7e9, milliseconds like 1.7e12
        if _MIN_TS_MS <= ms < _MAX_TS_MS:
            return datetime.fromtimestamp(ms / 1000, tz=UTC)
    return None


def email(value: Any) -> str | None:
    """Lower-cased e-mail, or None when it does not look like one."""
    candidate = text(value, 320)
    if candidate and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", candidate):
        return email_key(candidate)
    return None


# --- envelope ------------------------------------------------------------------------------------------


class Envelope(BaseModel):
    event_id: str
    event: str
    creation_date: datetime | None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_body(body: bytes) -> Any:
    """Strict JSON (UTF-8, no NaN/Infinity) or EnvelopeError with the reason."""
    try:
        return json.loads(body.decode("utf-8-sig"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise EnvelopeError("body is not UTF-8") from None
    except (ValueError, RecursionError) as error:
        raise EnvelopeError(f"body is not JSON: {str(error)[:120]}") from None


def envelope(document: Any) -> Envelope:
    """The envelope fields every event carries; EnvelopeError when `id` or `event` is unusable."""
    if not isinstance(document, dict):
        raise EnvelopeError(f"body is a JSON {type(document).__name__}, not an object")
    raw_id = document.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        raise EnvelopeError("envelope `id` is missing or not a string")
    event_id = str(raw_id).strip()
    if not event_id or len(event_id) > MAX_ID_LENGTH or not event_id.isprintable():
        raise EnvelopeError("envelope `id` is empty, too long or has control characters")
    event = document.get("event")
    if not isinstance(event, str) or not _NAME_RE.fullmatch(event.strip()):
        raise EnvelopeError("envelope `event` is missing or not an event name")
    created = document.get("creation_date", document.get("creationDate"))
    return Envelope(event_id=event_id, event=event.strip(), creation_date=timestamp(created))


# --- typed event --------------------------------------------------------------------------------------


class HotmartEvent(BaseModel):
    """What we keep of one event: the facts the sales/contacts state is rebuilt from (hotmart.events.facts)."""

    event_id: str
    event: str
    occurred_at: datetime | None = None
    email: str | None = None
    # sale
    transaction: str | None = None
    status: str | None = None  # our canonical status for purchase events (see state.py)
    raw_status: str | None = None  # purchase.status exactly as sent
    product_id: int | None = None
    product_name: str | None = None
    offer_code: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    payment_type: str | None = None
    installments: int | None = None
    commissions: list[dict[str, Any]] = []
    producer_commission: Decimal | None = None
    order_date: datetime | None = None
    approved_at: datetime | None = None
    recurrence_number: int | None = None
    # person
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    document: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    # subscription / club
    subscriber_code: str | None = None
    subscription_status: str | None = None
    plan_name: str | None = None
    next_charge_at: datetime | None = None
    module_name: str | None = None

    def facts(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)


def _commissions(data: dict) -> tuple[list[dict[str, Any]], Decimal | None]:
    rows, producer = [], None
    items = data.get("commissions")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        value = money(item.get("value"))
        source = text(item.get("source"), 40)
        rows.append(
            {
                "source": source,
                "value": str(value) if value is not None else None,
                "currency": text(item.get("currency_value"), 8),
            }
        )
        if source == "PRODUCER" and value is not None:
            producer = value
    return rows, producer


def _person(person: Any) -> dict[str, Any]:
    """Name/phone/document/address of a buyer, subscriber or club user."""
    if not isinstance(person, dict):
        return {}
    phone = person.get("phone")
    if isinstance(phone, dict):  # SUBSCRIPTION_CANCELLATION: {dddCell, cell, dddPhone, phone}
        phone = "".join(filter(None, (text(phone.get("dddCell")), text(phone.get("cell"))))) or (
            "".join(filter(None, (text(phone.get("dddPhone")), text(phone.get("phone")))))
        )
    address = person.get("address") if isinstance(person.get("address"), dict) else {}
    name = text(person.get("name"))
    first, last = text(person.get("first_name")), text(person.get("last_name"))
    if name and not first:
        first, _, rest = name.partition(" ")
        last = last or rest or None
    return {
        "name": name,
        "first_name": first,
        "last_name": last,
        "phone": text(phone, 40) or text(person.get("checkout_phone"), 40),
        "document": text(person.get("document"), 40),
        "city": text(address.get("city"), 120),
        "state": text(address.get("state"), 120),
        "country": text(address.get("country_iso"), 8) or text(address.get("country"), 120),
    }


def _purchase(data: dict, event: str) -> dict[str, Any]:
    purchase = data.get("purchase") if isinstance(data.get("purchase"), dict) else {}
    transaction = text(purchase.get("transaction"), 100)
    if not transaction:
        raise UnusableEvent(f"{event} without purchase.transaction")
    commissions, producer = _commissions(data)
    return {
        "email": email(dig(data, "buyer", "email")),
        **_person(data.get("buyer")),
        "transaction": transaction,
        "status": status_for_event(event),
        "raw_status": text(purchase.get("status"), 40),
        "product_id": integer(dig(data, "product", "id")),
        "product_name": text(dig(data, "product", "name")),
        "offer_code": text(dig(purchase, "offer", "code"), 100),
        "price": money(dig(purchase, "price", "value")),
        "currency": text(dig(purchase, "price", "currency_value"), 8),
        "payment_type": text(dig(purchase, "payment", "type"), 40),
        "installments": integer(dig(purchase, "payment", "installments_number")),
        "commissions": commissions,
        "producer_commission": producer,
        "order_date": timestamp(purchase.get("order_date")),
        "approved_at": timestamp(purchase.get("approved_date")),
        "recurrence_number": integer(purchase.get("recurrence_number")),
        "subscriber_code": text(dig(data, "subscription", "subscriber", "code"), 100),
        "subscription_status": text(dig(data, "subscription", "status"), 40),
        "plan_name": text(dig(data, "subscription", "plan", "name")),
        "next_charge_at": timestamp(purchase.get("date_next_charge")),
    }


def _cart(data: dict) -> dict[str, Any]:
    return {
        "email": email(dig(data, "buyer", "email")),
        **_person(data.get("buyer")),
        "product_id": integer(dig(data, "product", "id")),
        "product_name": text(dig(data, "product", "name")),
        "offer_code": text(dig(data, "offer", "code"), 100),
    }


def _subscription(data: dict, event: str) -> dict[str, Any]:
    if event == "SWITCH_PLAN":
        subscription = data.get("subscription") if isinstance(data.get("subscription"), dict) else {}
        plans = data.get("plans") if isinstance(data.get("plans"), list) else []
        current = next((p for p in plans if isinstance(p, dict) and p.get("current") is True), None)
        return {
            "email": email(dig(subscription, "user", "email")),
            "subscriber_code": text(subscription.get("subscriber_code"), 100),
            "subscription_status": text(subscription.get("status"), 40),
            "product_id": integer(dig(subscription, "product", "id")),
            "product_name": text(dig(subscription, "product", "name")),
            "plan_name": text(dig(current, "name")),
            "offer_code": text(dig(current, "offer", "key"), 100),
        }
    subscription = data.get("subscription") if isinstance(data.get("subscription"), dict) else {}
    product = data.get("product") if isinstance(data.get("product"), dict) else subscription.get("product")
    plan = data.get("plan") if isinstance(data.get("plan"), dict) else subscription.get("plan")
    status = text(subscription.get("status"), 40)
    if event == "SUBSCRIPTION_CANCELLATION" and not status:
        status = "CANCELLED_BY_CUSTOMER"
    return {
        "email": email(dig(data, "subscriber", "email")),
        **_person(data.get("subscriber")),
        "subscriber_code": text(dig(data, "subscriber", "code"), 100),
        "subscription_status": status,
        "product_id": integer(dig(product, "id")),
        "product_name": text(dig(product, "name")),
        "plan_name": text(dig(plan, "name")),
        "offer_code": text(dig(plan, "offer", "code"), 100),
        "price": money(data.get("actual_recurrence_value")),
        "next_charge_at": timestamp(data.get("date_next_charge") or subscription.get("date_next_charge")),
    }


def _club(data: dict) -> dict[str, Any]:
    return {
        "email": email(dig(data, "user", "email")),
        **_person(data.get("user")),
        "product_id": integer(dig(data, "product", "id")),
        "product_name": text(dig(data, "product", "name")),
        "module_name": text(dig(data, "module", "name")),
    }


def parse_event(document: Any) -> HotmartEvent:
    """The typed event of a stored envelope. UnusableEvent when it cannot change any table; unknown event
    types parse to an event with only envelope fields (kept in hotmart.events, changing nothing else)."""
    head = envelope(document)
    data = document.get("data") if isinstance(document.get("data"), dict) else {}
    if head.event in PURCHASE_EVENTS:
        fields = _purchase(data, head.event)
    elif head.event == CART_EVENT:
        fields = _cart(data)
    elif head.event in SUBSCRIPTION_EVENTS:
        fields = _subscription(data, head.event)
    elif head.event in CLUB_EVENTS:
        fields = _club(data)
    else:
        fields = {"email": email(dig(data, "buyer", "email"))}
    contact_only = head.event in (CART_EVENT, *SUBSCRIPTION_EVENTS, *CLUB_EVENTS)
    if contact_only and not fields.get("email"):
        raise UnusableEvent(f"{head.event} without a usable e-mail")
    check_ranges(head.event, fields)
    known = {key: value for key, value in fields.items() if value is not None}
    return HotmartEvent(event_id=head.event_id, event=head.event, occurred_at=head.creation_date, **known)
