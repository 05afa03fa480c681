"""A Hotmart webhook sender for demos, tests and benchmarks (contracts/hotmart.md A.2–A.6).

Events come in realistic stories (a boleto printed then paid, a sale approved then refunded, a
subscription that switches plan and is cancelled, a cart abandoned…), with every event type of the
contract and its quirks (`creationDate` on CLUB_FIRST_ACCESS, string product ids on CLUB_MODULE_COMPLETED,
ISO `date_next_charge` on UPDATE_SUBSCRIPTION_CHARGE_DATE). Delivery mimics Hotmart: at least once (optional
duplicates with the same id), optionally shuffled, retried with backoff on a non-2xx answer.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

FIRST_NAMES = (
    "Ana",
    "Bruno",
    "Carla",
    "Diego",
    "Elisa",
    "Fábio",
    "Gabriela",
    "Heitor",
    "Íris",
    "João",
    "Larissa",
    "Marcos",
)
LAST_NAMES = (
    "Silva",
    "Souza",
    "Oliveira",
    "Santos",
    "Pereira",
    "Lima",
    "Carvalho",
    "Ferreira",
    "Almeida",
    "Ribeiro",
)
CITIES = (
    ("São Paulo", "SP"),
    ("Rio de Janeiro", "RJ"),
    ("Belo Horizonte", "MG"),
    ("Curitiba", "PR"),
    ("Recife", "PE"),
)
PRODUCTS = (
    (4774438, "Curso Investidor Imobiliário", 497.0),
    (4999597, "Mentoria Corretor de Alta Performance", 1997.0),
    (5120033, "E-book Financiamento sem Mistério", 47.0),
    (5233871, "Clube do Investidor (assinatura)", 97.0),
)
SUBSCRIPTION_PRODUCT = PRODUCTS[3]
DAY_MS = 86_400_000


@dataclass
class Person:
    email: str
    first_name: str
    last_name: str
    phone: str
    document: str
    city: str
    state: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def _person(rng: random.Random, serial: int) -> Person:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, state = rng.choice(CITIES)
    local = f"{first}.{last}{serial}".lower().encode("ascii", "ignore").decode()
    return Person(
        email=f"{local}@example.com" if rng.random() > 0.2 else f"{local.title()}@Example.com",
        first_name=first,
        last_name=last,
        phone=f"119{rng.randint(10_000_000, 99_999_999)}",
        document="".join(str(rng.randint(0, 9)) for _ in range(11)),
        city=city,
        state=state,
    )


@dataclass
class Story:
    """The events of one buyer's journey, with increasing creation dates."""

    rng: random.Random
    person: Person
    clock_ms: int
    events: list[dict[str, Any]] = field(default_factory=list)

    def emit(
        self, event: str, data: dict[str, Any], *, gap_ms: int = 60_000, camel_date: bool = False
    ) -> None:
        self.clock_ms += self.rng.randint(gap_ms // 2, gap_ms * 2)
        date_key = "creationDate" if camel_date else "creation_date"
        self.events.append(
            {
                "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                date_key: self.clock_ms,
                "event": event,
                "version": "2.0.0",
                "data": data,
            }
        )

    def buyer(self) -> dict[str, Any]:
        p = self.person
        return {
            "email": p.email,
            "name": p.name,
            "first_name": p.first_name,
            "last_name": p.last_name,
            "checkout_phone": p.phone,
            "document": p.document,
            "document_type": "CPF",
            "address": {"city": p.city, "state": p.state, "country": "Brasil", "country_iso": "BR"},
        }

    def purchase(
        self, event: str, status: str, product: tuple, transaction: str, payment: str, **extra
    ) -> None:
        product_id, product_name, price = product
        approved = event in (
            "PURCHASE_APPROVED",
            "PURCHASE_COMPLETE",
            "PURCHASE_REFUNDED",
            "PURCHASE_PROTEST",
            "PURCHASE_CHARGEBACK",
        )
        value = int(price) if price.is_integer() and self.rng.random() < 0.5 else price  # int or float
        purchase = {
            "transaction": transaction,
            "status": status,
            "order_date": self.clock_ms,
            "approved_date": self.clock_ms if approved else None,
            "price": {"value": value, "currency_value": "BRL"},
            "full_price": {"value": value, "currency_value": "BRL"},
            "original_offer_price": {"value": value, "currency_value": "BRL"},
            "payment": {
                "type": payment,
                "installments_number": 1 if payment != "CREDIT_CARD" else self.rng.choice((1, 3, 12)),
            },
            "offer": {"code": f"off{product_id % 1000}", "coupon_code": None},
            "checkout_country": {"iso": "BR", "name": "Brasil"},
            "order_bump": {"is_order_bump": False},
            "is_funnel": False,
            "business_model": "I",
            "invoice_by": "HOTMART",
            **extra,
        }
        if event in ("PURCHASE_CANCELED", "PURCHASE_DELAYED", "PURCHASE_EXPIRED"):
            purchase["payment"]["refusal_reason"] = "Transação recusada pelo banco emissor"
        data = {
            "product": {
                "id": product_id,
                "ucode": str(uuid.UUID(int=product_id)),
                "name": product_name,
                "has_co_production": False,
            },
            "buyer": self.buyer(),
            "producer": {
                "name": "Organizer Educação",
                "document": "12345678000199",
                "legal_nature": "Pessoa Jurídica",
            },
            "affiliates": [{"affiliate_code": "", "name": ""}],
            "commissions": [
                {"value": round(price * 0.099, 2), "source": "MARKETPLACE", "currency_value": "BRL"},
                {"value": round(price * 0.901, 2), "source": "PRODUCER", "currency_value": "BRL"},
            ],
            "purchase": purchase,
        }
        if product == SUBSCRIPTION_PRODUCT:
            data["subscription"] = {
                "status": "ACTIVE",
                "plan": {"id": 1, "name": "Mensal"},
                "subscriber": {"code": f"SUB{transaction[-6:]}"},
            }
        self.emit(event, data, gap_ms=DAY_MS if event == "PURCHASE_COMPLETE" else 60_000)


def _transaction(rng: random.Random) -> str:
    return f"HP{rng.randint(10**13, 10**14 - 1)}"


def _story(rng: random.Random, serial: int, start_ms: int) -> list[dict[str, Any]]:
    s = Story(rng, _person(rng, serial), start_ms)
    product = rng.choice(PRODUCTS[:3])
    tx = _transaction(rng)
    kind = rng.choices(
        (
            "paid",
            "boleto_paid",
            "boleto_expired",
            "refunded",
            "chargeback",
            "refused",
            "cart",
            "subscription",
            "club",
        ),
        weights=(30, 10, 8, 8, 4, 8, 12, 12, 8),
    )[0]
    if kind == "paid":
        s.purchase("PURCHASE_APPROVED", "APPROVED", product, tx, rng.choice(("CREDIT_CARD", "PIX")))
        s.purchase("PURCHASE_COMPLETE", "COMPLETED", product, tx, "CREDIT_CARD")
    elif kind == "boleto_paid":
        s.purchase(
            "PURCHASE_BILLET_PRINTED",
            "BILLET_PRINTED",
            product,
            tx,
            "PIX",
        )
        s.purchase("PURCHASE_APPROVED", "APPROVED", product, tx, "PIX")
    elif kind == "boleto_expired":
        s.purchase("PURCHASE_BILLET_PRINTED", "BILLET_PRINTED", product, tx, "BILLET")
        s.purchase("PURCHASE_EXPIRED", "EXPIRED", product, tx, "BILLET")
    elif kind == "refunded":
        s.purchase("PURCHASE_APPROVED", "APPROVED", product, tx, "CREDIT_CARD")
        s.purchase("PURCHASE_REFUNDED", "REFUNDED", product, tx, "CREDIT_CARD")
    elif kind == "chargeback":
        s.purchase("PURCHASE_APPROVED", "APPROVED", product, tx, "CREDIT_CARD")
        s.purchase("PURCHASE_PROTEST", "DISPUTE", product, tx, "CREDIT_CARD")
        s.purchase("PURCHASE_CHARGEBACK", "CHARGEBACK", product, tx, "CREDIT_CARD")
    elif kind == "refused":
        s.purchase("PURCHASE_CANCELED", "CANCELED", product, tx, "CREDIT_CARD")
    elif kind == "cart":
        p = s.person
        s.emit(
            "PURCHASE_OUT_OF_SHOPPING_CART",
            {
                "product": {"id": product[0], "name": product[1]},
                "buyer": {"email": p.email, "name": p.name, "phone": p.phone},
                "offer": {"code": f"off{product[0] % 1000}"},
                "checkout_country": {"iso": "BR", "name": "Brasil"},
                "affiliate": False,
            },
        )
        if rng.random() < 0.4:  # recovered cart
            s.purchase("PURCHASE_APPROVED", "APPROVED", product, tx, "PIX")
    elif kind == "subscription":
        _subscription_story(s, tx)
    else:
        _club_story(s, product)
    return s.events


def _subscription_story(s: Story, tx: str) -> None:
    p, (product_id, product_name, price) = s.person, SUBSCRIPTION_PRODUCT
    code = f"SUB{tx[-6:]}"
    s.purchase(
        "PURCHASE_APPROVED",
        "APPROVED",
        SUBSCRIPTION_PRODUCT,
        tx,
        "CREDIT_CARD",
        recurrence_number=1,
        date_next_charge=s.clock_ms + 30 * DAY_MS,
    )
    if s.rng.random() < 0.5:
        s.emit(
            "SWITCH_PLAN",
            {
                "plans": [
                    {"id": 2, "name": "Anual", "current": True, "offer": {"key": "anual01"}},
                    {"id": 1, "name": "Mensal", "current": False, "offer": {"key": "mensal01"}},
                ],
                "switch_plan_date": s.clock_ms,
                "subscription": {
                    "subscriber_code": code,
                    "status": "ACTIVE",
                    "product": {"id": product_id, "name": product_name},
                    "user": {"email": p.email},
                },
            },
        )
    s.emit(
        "UPDATE_SUBSCRIPTION_CHARGE_DATE",
        {
            "subscriber": {"code": code, "name": p.name, "email": p.email},
            "subscription": {
                "product": {"id": product_id, "name": product_name},
                "old_charge_day": 5,
                "new_charge_day": 15,
                "status": "ACTIVE",
                "date_next_charge": "2026-12-15T00:00:00Z",
            },
            "plan": {"id": 1, "name": "Mensal", "offer": {"code": "mensal01"}},
        },
    )
    if s.rng.random() < 0.3:
        s.purchase(
            "PURCHASE_DELAYED",
            "DELAYED",
            SUBSCRIPTION_PRODUCT,
            _transaction(s.rng),
            "CREDIT_CARD",
            recurrence_number=2,
        )
    if s.rng.random() < 0.5:
        s.emit(
            "SUBSCRIPTION_CANCELLATION",
            {
                "subscriber": {
                    "code": code,
                    "name": p.name,
                    "email": p.email,
                    "phone": {"dddCell": p.phone[:2], "cell": p.phone[2:]},
                },
                "subscription": {"id": s.rng.randint(10**6, 10**7), "plan": {"id": 1, "name": "Mensal"}},
                "product": {"id": product_id, "name": product_name},
                "cancellation_date": s.clock_ms,
                "date_next_charge": s.clock_ms + 30 * DAY_MS,
                "actual_recurrence_value": price,
            },
        )


def _club_story(s: Story, product: tuple) -> None:
    p = s.person
    s.purchase("PURCHASE_APPROVED", "APPROVED", product, _transaction(s.rng), "PIX")
    s.emit(
        "CLUB_FIRST_ACCESS",
        {"product": {"id": product[0], "name": product[1]}, "user": {"name": p.name, "email": p.email}},
        camel_date=True,
    )
    for module in range(1, s.rng.randint(1, 4)):
        s.emit(
            "CLUB_MODULE_COMPLETED",
            {
                "product": {"id": str(product[0]), "name": product[1]},
                "user": {"name": p.name, "email": p.email},
                "module": {"id": f"m{module}", "name": f"Módulo {module}"},
            },
        )


def event_stream(seed: int = 7, start_ms: int | None = None) -> Iterator[dict[str, Any]]:
    """An endless stream of events, story after story (stories interleave a little, like real traffic)."""
    rng = random.Random(seed)
    clock = start_ms if start_ms is not None else int(time.time() * 1000) - 30 * DAY_MS
    window: list[dict[str, Any]] = []
    for serial in itertools.count(1):
        clock += rng.randint(1_000, 600_000)
        window.extend(_story(rng, serial, clock))
        window.sort(key=lambda e: e.get("creation_date") or e.get("creationDate"))
        while len(window) > 20:
            yield window.pop(0)


def generate(
    count: int, seed: int = 7, duplicates: float = 0.0, shuffle: bool = False, start_ms: int | None = None
) -> list[dict[str, Any]]:
    """`count` unique events; then each repeated with probability `duplicates`; then optionally shuffled."""
    rng = random.Random(seed + 1)
    unique = list(itertools.islice(event_stream(seed, start_ms), count))
    delivered = list(unique)
    delivered.extend(e for e in unique if rng.random() < duplicates)
    if shuffle:
        rng.shuffle(delivered)
    return delivered


def shop_traffic(
    seed: int,
    per_minute: float = 4.0,
    duplicates: float = 0.05,
    late: float = 0.1,
    burst_every_minutes: float = 10.0,
) -> Iterator[tuple[float, dict[str, Any]]]:
    """(seconds to wait, event) for ever, paced like a real shop's webhooks: events at random moments
    (`per_minute` on average), now and then a burst of 15-40 within a few seconds (a launch or a promo
    e-mail), each re-sent with probability `duplicates` (seconds later, as after a timeout, or minutes
    later), and a share `late` delivered 20-120 s late, after events created after them."""
    rng = random.Random(seed)
    stories = event_stream(seed, start_ms=int(time.time() * 1000))
    due: list[tuple[float, int, dict[str, Any]]] = []  # (send at, tie-break, event)
    order = itertools.count()
    clock = 0.0  # when the next new event happens
    burst_left, next_burst = 0, rng.uniform(60, 240)  # the first within minutes: a demo shows one
    sent_at = 0.0
    while True:
        while not due or due[0][0] > clock:  # what is due before the next new event can be sent
            event = next(stories)
            at = clock + (rng.uniform(20, 120) if rng.random() < late else 0.0)
            heapq.heappush(due, (at, next(order), event))
            if rng.random() < duplicates:
                again = rng.uniform(1, 10) if rng.random() < 0.5 else rng.uniform(60, 300)
                heapq.heappush(due, (at + again, next(order), event))
            if burst_left:
                burst_left -= 1
                clock += rng.expovariate(4.0)
            else:
                clock += rng.expovariate(per_minute / 60)
                if clock >= next_burst:
                    burst_left = rng.randint(15, 40)
                    next_burst = clock + rng.expovariate(1 / (burst_every_minutes * 60))
        at, _, event = heapq.heappop(due)
        yield at - sent_at, event
        sent_at = at


@dataclass
class Delivery:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    retries: int = 0
    failed: int = 0
    last_error: str | None = None  # why the last failed event failed
    stopped: str | None = None  # why delivery stopped before the end (wrong hottok, receiver unreachable)


class _Refused(Exception):
    """The receiver will refuse every event (401/403: the hottok is wrong): stop sending."""


def _post(
    session: requests.Session,
    url: str,
    body: bytes,
    headers: dict,
    stats: Delivery,
    attempts: int,
    timeout: float,
) -> tuple[bool, str | None]:
    """POST one event like Hotmart: the same body again after a 5xx or a network error, with backoff.
    (accepted, why not); raises _Refused on 401/403."""
    problem = None
    for attempt in range(attempts):
        try:
            response = session.post(url, data=body, headers=headers, timeout=timeout)
            if 200 <= response.status_code < 300:
                stats.duplicates += response.json().get("status") == "duplicate"
                return True, None
            problem = f"HTTP {response.status_code} {response.reason}: {response.text.strip()[:200]}"
            if response.status_code in (401, 403):
                raise _Refused(f"{problem} (is HOTMART_HOTTOK the receiver's hottok?)")
            if 400 <= response.status_code < 500:  # Hotmart does not fix a refused body by resending it
                return False, problem
        except requests.RequestException as error:
            problem = f"{type(error).__name__}: {_first_cause(error)}"
        if attempt + 1 < attempts:
            stats.retries += 1
            time.sleep(min(2**attempt * 0.5, 10))
    return False, problem


def _first_cause(error: BaseException) -> str:
    """The innermost reason of a requests error ("Connection refused"), not urllib3's wrapping."""
    while error.__context__ is not None or error.__cause__ is not None:
        error = error.__cause__ or error.__context__
    text = str(error).strip()
    return text.rsplit("] ", 1)[-1] if text.startswith("[Errno") else text or type(error).__name__


def deliver_schedule(
    url: str,
    hottok: str,
    schedule: Iterable[tuple[float, dict[str, Any]]],
    attempts: int = 4,
    timeout: float = 10.0,
    on_event=None,
    stop_when_unreachable: bool = True,
) -> Delivery:
    """POST each event after its wait (seconds since the previous one was sent). Stops at a 401/403 and,
    when `stop_when_unreachable`, when the receiver could not be reached for the first event."""
    stats = Delivery()
    session = requests.Session()
    headers = {
        "Content-Type": "application/json",
        "X-HOTMART-HOTTOK": hottok,
        "User-Agent": "Hotmart-Sandbox/1.0",
    }
    previous = time.monotonic()
    for wait, event in schedule:
        time.sleep(max(0.0, wait - (time.monotonic() - previous)))
        previous = time.monotonic()
        body = json.dumps(event, ensure_ascii=False).encode()
        try:
            accepted, problem = _post(session, url, body, headers, stats, attempts, timeout)
        except _Refused as refused:
            stats.sent, stats.failed, stats.last_error = stats.sent + 1, stats.failed + 1, str(refused)
            stats.stopped = f"the receiver refuses the hottok: {refused}"
            return stats
        stats.sent += 1
        stats.accepted += accepted
        if not accepted:
            stats.failed += 1
            stats.last_error = problem
            if stop_when_unreachable and stats.accepted == 0 and problem and not problem.startswith("HTTP"):
                stats.stopped = f"cannot reach {url}: {problem} (is the web app running there?)"
                return stats
        if on_event:
            on_event(event, stats)
    return stats


def deliver(
    url: str,
    hottok: str,
    events: Iterable[dict[str, Any]],
    rate: float = 0.0,
    attempts: int = 4,
    timeout: float = 10.0,
    on_event=None,
) -> Delivery:
    """POST each event like Hotmart does (same id on every retry of a 5xx or a timeout, with backoff);
    `rate` > 0 caps events per second."""
    gap = 1.0 / rate if rate > 0 else 0.0
    return deliver_schedule(url, hottok, ((gap, e) for e in events), attempts, timeout, on_event)
