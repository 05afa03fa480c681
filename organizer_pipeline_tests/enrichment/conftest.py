"""Simulators on loopback, clients with a fast retry policy, and rows in the real Hotmart tables."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from organizer_pipeline.resources.brevo import BrevoClient
from organizer_pipeline.resources.openrouter import OpenRouterClient
from organizer_pipeline.sandbox import brevo as brevo_sandbox
from organizer_pipeline.sandbox import openrouter as openrouter_sandbox
from organizer_pipeline.sandbox.server import serve_in_thread

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Served:
    def __init__(self, url: str, sim: Any):
        self.url, self.sim = url, sim


@pytest.fixture
def openrouter_server(request) -> Iterator[Served]:
    knobs = getattr(request, "param", {})
    app = openrouter_sandbox.create_app(**knobs)
    with serve_in_thread(app) as url:
        yield Served(url, app.state.sim)


@pytest.fixture
def brevo_server(request) -> Iterator[Served]:
    knobs = {"rate_limit": 0, **getattr(request, "param", {})}
    app = brevo_sandbox.create_app(**knobs)
    with serve_in_thread(app) as url:
        yield Served(url, app.state.sim)


def openrouter_client(server: Served, **overrides: Any) -> OpenRouterClient:
    settings = {
        "api_key": "sk-or-test",
        "base_url": f"{server.url}/api/v1",
        "models": "sandbox/primary,sandbox/fallback",
        "embedding_model": "openai/text-embedding-3-small",
        "daily_budget_usd": 5.0,
        "timeout_seconds": 5.0,
        "retry_attempts": 3,
        "retry_base_delay": 0.001,
        "retry_max_delay": 0.01,
        **overrides,
    }
    return OpenRouterClient(**settings)


def brevo_client(server: Served, **overrides: Any) -> BrevoClient:
    settings = {
        "api_key": "xkeysib-test",
        "base_url": f"{server.url}/v3",
        "requests_per_second": 0,
        "retry_attempts": 3,
        "retry_base_delay": 0.001,
        "retry_max_delay": 0.01,
        **overrides,
    }
    return BrevoClient(**settings)


def add_contact(engine: Engine, email: str, **fields: Any) -> str:
    """Insert or replace a hotmart.contacts row; facts_hash derived from the fields (as a change would)."""
    row = {
        "email": email,
        "name": "Ana Souza",
        "first_name": "Ana",
        "last_name": "Souza",
        "phone": "11 9" + str(int(hashlib.sha256(email.encode()).hexdigest(), 16))[:8],  # unique, as in Brevo
        "document": "123.456.789-09",
        "city": "São Paulo",
        "state": "SP",
        "country": "BR",
        "status": "APPROVED",
        "last_event": "PURCHASE_APPROVED",
        "lifetime_value": 497,
        "products": ["Curso de Investimentos"],
        "last_product": "Curso de Investimentos",
        **fields,
    }
    row["facts_hash"] = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:16]
    row["products"] = json.dumps(row["products"])
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                """
                INSERT INTO hotmart.contacts (email, name, first_name, last_name, phone, document, city, state,
                    country, status, last_event, first_event_at, last_event_at, lifetime_value, products,
                    last_product, facts_hash)
                VALUES (:email, :name, :first_name, :last_name, :phone, :document, :city, :state, :country,
                    :status, :last_event, :t0, :t0, :lifetime_value, CAST(:products AS jsonb), :last_product,
                    :facts_hash)
                ON CONFLICT (email) DO UPDATE SET status = EXCLUDED.status, last_event = EXCLUDED.last_event,
                    lifetime_value = EXCLUDED.lifetime_value, products = EXCLUDED.products,
                    last_product = EXCLUDED.last_product, facts_hash = EXCLUDED.facts_hash, phone = EXCLUDED.phone,
                    updated_at = now()
                """
            ),
            {**row, "t0": T0},
        )
    return row["facts_hash"]


def add_event(engine: Engine, event_id: str, event: str, email: str, minutes: int = 0, **fields: Any) -> None:
    row = {
        "event_id": event_id,
        "event": event,
        "occurred_at": T0 + timedelta(minutes=minutes),
        "email": email,
        "transaction": "HP0001",
        "product_id": 1355458,
        "product_name": "Curso de Investimentos",
        "offer_code": "x1",
        "status": event.removeprefix("PURCHASE_"),
        "price": 497,
        "currency": "BRL",
        **fields,
    }
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                """
                INSERT INTO hotmart.events (event_id, event, occurred_at, email, transaction, product_id,
                    product_name, offer_code, status, price, currency)
                VALUES (:event_id, :event, :occurred_at, :email, :transaction, :product_id, :product_name,
                    :offer_code, :status, :price, :currency)
                """
            ),
            row,
        )


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()
