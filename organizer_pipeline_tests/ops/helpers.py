"""Test data and table fingerprints shared by the backup and erasure tests."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def fingerprints(engine: Engine) -> dict[str, tuple[int, str]]:
    """(row count, md5 of all rows in a stable order) for every warehouse table."""
    with engine.connect() as conn:
        tables = conn.execute(
            sa.text(
                "select table_schema || '.' || table_name from information_schema.tables "
                "where table_type = 'BASE TABLE' and table_schema in ('public','raw','core','hotmart','ai','kpi','ops') "
                "order by 1"
            )
        ).scalars()
        query = "select count(*), coalesce(md5(string_agg(t::text, '|' order by t::text)), '') from {} t"
        return {table: tuple(conn.execute(sa.text(query.format(table))).one()) for table in list(tables)}


def purchase_payload(email: str, name: str, document: str, transaction: str) -> dict:
    """A PURCHASE_APPROVED envelope in Hotmart's 2.0.0 shape (contracts/hotmart.md)."""
    return {
        "id": f"evt-{transaction}",
        "event": "PURCHASE_APPROVED",
        "version": "2.0.0",
        "data": {
            "product": {"id": 1355458, "name": "Curso X", "support_email": "support@hotmart.com.br"},
            "buyer": {
                "email": email,
                "name": name,
                "first_name": name.split()[0],
                "last_name": name.split()[-1],
                "checkout_phone": "5511987654321",
                "document": document,
                "document_type": "CPF",
                "address": {"city": "São Paulo", "zipcode": "01310100"},
            },
            "producer": {"name": "Producer Ltda", "document": "12345678965"},
            "purchase": {
                "transaction": transaction,
                "price": {"value": 1497.0},
                "buyer_ip": f"200.1.2.{int(transaction[-3:])}",
            },
        },
    }


def seed_hotmart(
    engine: Engine, email: str, name: str, document: str, transaction: str, price: float
) -> None:
    """One buyer in every Hotmart table, the way the Hotmart pipeline stores them."""
    payload = purchase_payload(email, name, document, transaction)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into hotmart.webhook_inbox (event_id, event, payload, processed_at) "
                "values (:id, 'PURCHASE_APPROVED', cast(:payload as jsonb), now())"
            ),
            {"id": payload["id"], "payload": json.dumps(payload)},
        )
        conn.execute(
            sa.text(
                "insert into hotmart.webhook_quarantine (reason, event_id, body) values ('bad json', :id, :body)"
            ),
            {"id": payload["id"] + "-q", "body": json.dumps(payload)[:-3]},
        )
        conn.execute(
            sa.text(
                "insert into hotmart.events (event_id, event, email, transaction, price) "
                "values (:id, 'PURCHASE_APPROVED', :email, :tx, :price)"
            ),
            {"id": payload["id"], "email": email, "tx": transaction, "price": price},
        )
        conn.execute(
            sa.text(
                "insert into hotmart.sales (transaction, status, price, buyer_email, product_name) "
                "values (:tx, 'APPROVED', :price, :email, 'Curso X')"
            ),
            {"tx": transaction, "price": price, "email": email},
        )
        conn.execute(
            sa.text(
                "insert into hotmart.contacts (email, name, phone, document, lifetime_value) "
                "values (lower(:email), :name, '5511987654321', :document, :price)"
            ),
            {"email": email, "name": name, "document": document, "price": price},
        )
