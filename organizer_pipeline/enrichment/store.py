"""SQL of the enrichment domain: which contacts changed, their history, the LLM call log, the daily spend,
profile rows. Parameterized statements only."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

PENDING_PROFILES = sa.text(
    """
    SELECT c.*
    FROM hotmart.contacts c
    LEFT JOIN ai.contact_profiles p ON p.email = c.email
    WHERE c.facts_hash IS NOT NULL
      AND p.facts_hash IS DISTINCT FROM c.facts_hash
      AND NOT ai.is_erased(c.email)
      AND NOT EXISTS (
          SELECT 1 FROM ai.llm_calls l
          WHERE l.purpose = 'profile_repair' AND l.status = 'invalid'
            AND l.email_sha256 = ai.email_sha256(c.email) AND l.facts_hash = c.facts_hash)
    ORDER BY c.last_event_at NULLS LAST, c.email
    LIMIT :limit
    """
)

EVENTS_OF = sa.text(
    """
    SELECT event_id, event, occurred_at, email, transaction, product_id, product_name, offer_code, status,
           price, currency
    FROM hotmart.events
    WHERE email = ANY(:emails)
    ORDER BY occurred_at NULLS FIRST, applied_at, event_id
    """
)

SPENT_TODAY = sa.text(
    """
    SELECT coalesce(sum(cost_usd), 0) FROM ai.llm_calls
    WHERE called_at >= (date_trunc('day', now() AT TIME ZONE 'America/Sao_Paulo') AT TIME ZONE 'America/Sao_Paulo')
    """
)

INSERT_CALL = sa.text(
    """
    INSERT INTO ai.llm_calls (purpose, email_sha256, facts_hash, requested_model, model, generation_id, status,
                              error, prompt_tokens, completion_tokens, total_tokens, cost_usd, latency_ms)
    VALUES (:purpose, :email_sha256, :facts_hash, :requested_model, :model, :generation_id, :status, :error,
            :prompt_tokens, :completion_tokens, :total_tokens, :cost_usd, :latency_ms)
    """
)

UPSERT_PROFILE = sa.text(
    """
    INSERT INTO ai.contact_profiles (email, facts_hash, segment, purchase_intent, churn_risk, profile, summary,
                                     embedding, model, embedding_model, prompt_version)
    VALUES (:email, :facts_hash, :segment, :purchase_intent, :churn_risk, CAST(:profile AS jsonb), :summary,
            CAST(:embedding AS vector), :model, :embedding_model, :prompt_version)
    ON CONFLICT (email) DO UPDATE SET
        facts_hash = EXCLUDED.facts_hash, segment = EXCLUDED.segment,
        purchase_intent = EXCLUDED.purchase_intent, churn_risk = EXCLUDED.churn_risk,
        profile = EXCLUDED.profile, summary = EXCLUDED.summary, embedding = EXCLUDED.embedding,
        model = EXCLUDED.model, embedding_model = EXCLUDED.embedding_model,
        prompt_version = EXCLUDED.prompt_version, updated_at = now()
    """
)

NEAREST = sa.text(
    """
    SELECT p.email, p.segment, p.purchase_intent, p.churn_risk, p.summary,
           p.embedding <=> CAST(:query AS vector) AS distance
    FROM ai.contact_profiles p
    WHERE NOT ai.is_erased(p.email)
    ORDER BY p.embedding <=> CAST(:query AS vector)
    LIMIT :limit
    """
)


@dataclass
class LlmCall:
    """One row of ai.llm_calls."""

    purpose: str
    requested_model: str
    status: str
    email_sha256: str | None = None
    facts_hash: str | None = None
    model: str | None = None
    generation_id: str | None = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int | None = None


def record_calls(conn: Connection, calls: Iterable[LlmCall]) -> None:
    rows = [vars(call) for call in calls]
    if rows:
        conn.execute(INSERT_CALL, rows)


def spent_today(engine: Engine) -> float:
    with engine.connect() as conn:
        return float(conn.execute(SPENT_TODAY).scalar_one())


def pending_contacts(engine: Engine, limit: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(PENDING_PROFILES, {"limit": limit}).mappings()]


def events_by_email(conn: Connection, emails: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if emails:
        for row in conn.execute(EVENTS_OF, {"emails": emails}).mappings():
            found[row["email"]].append(dict(row))
    return found


def vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def save_profile(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(
        UPSERT_PROFILE,
        {
            **row,
            "profile": json.dumps(row["profile"], ensure_ascii=False),
            "embedding": vector_literal(row["embedding"]),
        },
    )


def nearest_profiles(engine: Engine, vector: list[float], limit: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(NEAREST, {"query": vector_literal(vector), "limit": limit}).mappings()
        return [{**dict(row), "distance": float(row["distance"])} for row in rows]
