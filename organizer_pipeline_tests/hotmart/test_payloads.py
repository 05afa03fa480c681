import copy
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from organizer_pipeline.hotmart import payloads
from organizer_pipeline.hotmart.payloads import EnvelopeError, UnusableEvent, parse_event
from organizer_pipeline.sandbox import hotmart as generator

# contracts/hotmart.md A.8: Hotmart's own "send test" PURCHASE_APPROVED (trimmed of nothing that matters)
TEST_SEND = {
    "id": "1f1ab22e-ae66-4f58-a76c-8f0e4d0db59b",
    "creation_date": 1759194927364,
    "event": "PURCHASE_APPROVED",
    "version": "2.0.0",
    "data": {
        "product": {
            "id": 0,
            "ucode": "fb056612",
            "name": "Produto test postback2",
            "has_co_production": False,
        },
        "affiliates": [{"affiliate_code": "Q58388177J", "name": "Affiliate name"}],
        "buyer": {
            "email": "testeComprador271101postman15@example.com",
            "name": "Teste Comprador",
            "first_name": "Teste",
            "last_name": "Comprador",
            "checkout_phone_code": "999999999",
            "checkout_phone": "99999999900",
            "address": {
                "city": "Uberlândia",
                "country": "Brasil",
                "country_iso": "BR",
                "state": "Minas Gerais",
            },
            "document": "69526128664",
            "document_type": "CPF",
        },
        "producer": {
            "name": "Producer Test Name",
            "document": "12345678965",
            "legal_nature": "Pessoa Física",
        },
        "commissions": [
            {"value": 149.5, "source": "MARKETPLACE", "currency_value": "BRL"},
            {"value": 1350.5, "source": "PRODUCER", "currency_value": "BRL"},
        ],
        "purchase": {
            "approved_date": 1511783346000,
            "order_date": 1511783344000,
            "price": {"value": 1500, "currency_value": "BRL"},
            "status": "APPROVED",
            "transaction": "HP16015479281022",
            "payment": {"installments_number": 12, "type": "CREDIT_CARD"},
            "offer": {"code": "test", "coupon_code": "SHHUHA"},
        },
        "subscription": {
            "status": "ACTIVE",
            "plan": {"id": 123, "name": "plano de teste"},
            "subscriber": {"code": "I9OT62C3"},
        },
    },
    "hottok": "legacy-body-field",
}


def test_hotmart_test_send_parses():
    event = parse_event(TEST_SEND)
    assert event.email == "testecomprador271101postman15@example.com"  # key: lower-cased
    assert (event.transaction, event.status, event.raw_status) == ("HP16015479281022", "APPROVED", "APPROVED")
    assert event.price == Decimal("1500.00") and event.currency == "BRL"
    assert event.producer_commission == Decimal("1350.50")
    assert event.installments == 12 and event.payment_type == "CREDIT_CARD"
    assert event.occurred_at == datetime.fromtimestamp(1759194927.364, tz=UTC)
    assert event.approved_at == datetime.fromtimestamp(1511783346, tz=UTC)
    assert event.subscriber_code == "I9OT62C3" and event.city == "Uberlândia"


def test_every_event_type_of_the_contract_parses():
    events = generator.generate(600, seed=3)
    seen = {e["event"] for e in events}
    expected = set(payloads.KNOWN_EVENTS) - {"ORDER_FULFILLMENT"}
    assert seen == expected
    for raw in events:
        event = parse_event(raw)
        assert event.email and event.occurred_at, raw["event"]
        if raw["event"] in payloads.PURCHASE_EVENTS:
            assert event.transaction and event.status and event.price is not None
        if raw["event"] in payloads.SUBSCRIPTION_EVENTS:
            assert event.subscriber_code
        if raw["event"] == "CLUB_MODULE_COMPLETED":
            assert event.product_id and event.module_name  # product id arrives as a string


def test_quirks():
    club = next(e for e in generator.generate(600, seed=3) if e["event"] == "CLUB_FIRST_ACCESS")
    assert "creationDate" in club and parse_event(club).occurred_at is not None
    charge = next(
        e for e in generator.generate(600, seed=3) if e["event"] == "UPDATE_SUBSCRIPTION_CHARGE_DATE"
    )
    assert parse_event(charge).next_charge_at == datetime(2026, 12, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda d: d.update(id=12345), lambda e: e.event_id == "12345"),
        (
            lambda d: d["data"]["purchase"]["price"].update(value="1500.5"),
            lambda e: e.price == Decimal("1500.50"),
        ),
        (
            lambda d: d["data"]["purchase"]["price"].update(value=99.999),
            lambda e: e.price == Decimal("100.00"),
        ),
        (lambda d: d["data"]["purchase"]["price"].update(value="abc"), lambda e: e.price is None),
        (
            lambda d: d.update(creation_date="2026-03-01T12:00:00Z"),
            lambda e: e.occurred_at == datetime(2026, 3, 1, 12, tzinfo=UTC),
        ),
        (lambda d: d.update(creation_date="1759194927364"), lambda e: e.occurred_at.year == 2025),
        (lambda d: d.update(creation_date=1759194927), lambda e: e.occurred_at.year == 2025),  # seconds
        (lambda d: d.update(creation_date="yesterday"), lambda e: e.occurred_at is None),
        (lambda d: d.update(creation_date=10**30), lambda e: e.occurred_at is None),
        (lambda d: d["data"]["product"].update(id="4774438"), lambda e: e.product_id == 4774438),
        (lambda d: d["data"]["purchase"].update(payment=None), lambda e: e.payment_type is None),
        (lambda d: d["data"].update(commissions="none"), lambda e: e.commissions == []),
        (lambda d: d["data"]["buyer"].update(address=["x"]), lambda e: e.city is None),
        (
            lambda d: d["data"]["buyer"].update(email="  Someone@Example.COM "),
            lambda e: e.email == "someone@example.com",
        ),
        (lambda d: d["data"]["buyer"].update(email="not an e-mail"), lambda e: e.email is None),
        (lambda d: d["data"]["buyer"].update(name="Maria\x00 Clara"), lambda e: e.name == "Maria Clara"),
    ],
)
def test_odd_fields_never_raise(change, check):
    document = copy.deepcopy(TEST_SEND)
    change(document)
    assert check(parse_event(json.loads(json.dumps(document))))


@pytest.mark.parametrize(
    "document",
    [
        [],
        "text",
        1,
        None,
        {},
        {"id": "x"},
        {"event": "PURCHASE_APPROVED"},
        {"id": True, "event": "X"},
        {"id": "", "event": "X"},
        {"id": "a\nb", "event": "X"},
        {"id": "x" * 300, "event": "X"},
        {"id": {"a": 1}, "event": "X"},
        {"id": "x", "event": 5},
        {"id": "x", "event": "has space"},
    ],
)
def test_not_an_envelope(document):
    with pytest.raises(EnvelopeError):
        payloads.envelope(document)


def test_unusable_events():
    no_transaction = copy.deepcopy(TEST_SEND)
    del no_transaction["data"]["purchase"]["transaction"]
    with pytest.raises(UnusableEvent, match="transaction"):
        parse_event(no_transaction)
    with pytest.raises(UnusableEvent, match="e-mail"):
        parse_event({"id": "c1", "event": "CLUB_FIRST_ACCESS", "creationDate": 1, "data": {"user": {}}})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda d: d["data"]["purchase"]["payment"].update(installments_number=3_000_000_000),
            r"installments 3000000000 does not fit hotmart\.sales\.installments \(integer\)",
        ),
        (lambda d: d["data"]["purchase"]["price"].update(value=1e30), "price 1.*E\\+30 does not fit"),
        (lambda d: d["data"]["purchase"]["price"].update(value=-2e11), "price -200000000000.00 does not"),
        (lambda d: d["data"]["product"].update(id=2**70), f"product_id {2**70} does not fit .*bigint"),
        (lambda d: d["data"]["product"].update(id=str(2**64)), "product_id"),
        (lambda d: d["data"]["commissions"][1].update(value=5e11), "producer_commission"),
    ],
)
def test_a_number_that_does_not_fit_its_column_is_unusable(change, reason):
    document = copy.deepcopy(TEST_SEND)
    change(document)
    with pytest.raises(UnusableEvent, match=reason):
        parse_event(json.loads(json.dumps(document)))


def test_numbers_at_the_columns_limits_fit():
    document = copy.deepcopy(TEST_SEND)
    document["data"]["purchase"]["payment"]["installments_number"] = 2**31 - 1
    document["data"]["product"]["id"] = 2**63 - 1
    document["data"]["purchase"]["price"]["value"] = 99_999_999_999.99
    event = parse_event(document)
    assert (event.installments, event.product_id) == (2**31 - 1, 2**63 - 1)


def test_unknown_event_type_parses_to_its_envelope():
    event = parse_event(
        {"id": "u1", "event": "ORDER_FULFILLMENT_V9", "creation_date": 1759194927364, "data": 7}
    )
    assert (event.event, event.transaction, event.email) == ("ORDER_FULFILLMENT_V9", None, None)


@pytest.mark.parametrize("body", [b"\xff\xfe", b"{", b"NaN", b'{"id": Infinity}', b"[" * 100_000])
def test_decode_body_rejects(body):
    with pytest.raises(EnvelopeError):
        payloads.decode_body(body)


def test_order_fulfillment_shape_unknown_still_parses():
    # contracts A.2: added 2026-06-09 for physical products, shape not captured yet
    event = parse_event(
        {
            "id": "of1",
            "event": "ORDER_FULFILLMENT",
            "creation_date": 1781000000000,
            "data": {"buyer": {"email": "A@B.co"}},
        }
    )
    assert (event.event, event.email, event.transaction) == ("ORDER_FULFILLMENT", "a@b.co", None)
