"""SQL of the enrichment domain: what is pending (the queue filled by triggers on the Hotmart tables, plus
profiles of another prompt version or embedding model), the contacts' history, the LLM call log, the daily
spend, profile rows. Parameterized statements only."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

# A contact whose profile answer was lost this many times (possibly billed each time) for the same facts is
# parked until its facts change: a model that keeps timing out must not burn the budget in a loop.
MAX_UNCERTAIN_CALLS = 2

# What a consumer has to look at, oldest change first. The queue is small (what changed since the last
# run), so it is read alone first and everything else is fetched by key: an idle run makes no other read,
# whatever the planner thinks of the tables' sizes.
QUEUED = sa.text(
    "SELECT email, seq FROM ai.enrichment_queue WHERE consumer = :consumer ORDER BY seq LIMIT :limit"
)
# Profiles built with another prompt version or embedding model, or without an embedding: each branch is an
# ordered range of an index (contact_profiles_generation_idx, contact_profiles_unembedded_idx), so when
# every profile is current this reads nothing.
STALE_PROFILES = sa.text(
    """
    (SELECT email FROM ai.contact_profiles WHERE prompt_version < :prompt_version
     ORDER BY prompt_version DESC LIMIT :limit)
    UNION ALL
    (SELECT email FROM ai.contact_profiles WHERE prompt_version > :prompt_version
     ORDER BY prompt_version LIMIT :limit)
    UNION ALL
    (SELECT email FROM ai.contact_profiles WHERE prompt_version = :prompt_version AND embedding_model < :model
     ORDER BY prompt_version, embedding_model DESC LIMIT :limit)
    UNION ALL
    (SELECT email FROM ai.contact_profiles WHERE prompt_version = :prompt_version AND embedding_model > :model
     ORDER BY prompt_version, embedding_model LIMIT :limit)
    UNION ALL
    (SELECT email FROM ai.contact_profiles WHERE embedding IS NULL ORDER BY email LIMIT :limit)
    """
)
# Per candidate: the contact, the stored profile it would replace, and what the call log says about these
# facts (an answer still invalid after its repair; answers lost, possibly billed).
CANDIDATES = sa.text(
    """
    SELECT c.*, p.facts_hash AS profile_facts_hash,
           p.prompt_version AS profile_prompt_version, p.embedding_model AS profile_embedding_model,
           p.profile AS stored_profile, p.model AS stored_model,
           coalesce(b.invalid, 0) AS invalid_answers, coalesce(b.uncertain, 0) AS uncertain_calls,
           ai.is_erased(c.email) AS erased
    FROM hotmart.contacts c
    LEFT JOIN ai.contact_profiles p ON p.email = c.email
    LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE l.purpose = 'profile_repair' AND l.status = 'invalid') AS invalid,
               count(*) FILTER (WHERE l.purpose LIKE 'profile%' AND l.status IN ('sending', 'uncertain'))
                   AS uncertain
        FROM ai.llm_calls l
        WHERE l.email_sha256 = ai.email_sha256(c.email) AND l.facts_hash = c.facts_hash) b ON true
    WHERE c.email = ANY(:emails) AND c.facts_hash IS NOT NULL
    """
)
DEQUEUE = sa.text(
    "DELETE FROM ai.enrichment_queue WHERE consumer = :consumer AND email = :email AND seq = :seq"
)
# Queue rows of contacts that are gone (hotmart.contacts truncated) or have no facts.
DROP_QUEUED = sa.text("DELETE FROM ai.enrichment_queue WHERE consumer = :consumer AND email = ANY(:emails)")

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
# What a profile answer usually costs: the price put on an answer that was lost (it may still be billed).
TYPICAL_CHAT_COST = sa.text(
    """
    SELECT coalesce(avg(cost_usd), 0) FROM (
        SELECT cost_usd FROM ai.llm_calls WHERE purpose = 'profile' AND status = 'ok' ORDER BY id DESC LIMIT 50
    ) recent
    """
)
# A 'sending' row left by a run that died mid-call: its outcome is unknown.
SETTLE_OPEN_CALLS = sa.text(
    "UPDATE ai.llm_calls SET status = 'uncertain', error = 'the run stopped while waiting for the answer' "
    "WHERE status = 'sending'"
)

INSERT_CALL = sa.text(
    """
    INSERT INTO ai.llm_calls (purpose, email_sha256, facts_hash, requested_model, model, generation_id, status,
                              error, prompt_tokens, completion_tokens, total_tokens, cost_usd, latency_ms)
    VALUES (:purpose, :email_sha256, :facts_hash, :requested_model, :model, :generation_id, :status, :error,
            :prompt_tokens, :completion_tokens, :total_tokens, :cost_usd, :latency_ms)
    RETURNING id
    """
)
DELETE_CALL = sa.text("DELETE FROM ai.llm_calls WHERE id = :id")

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
# Only the embedding of a profile that is still the one it was computed from.
SET_EMBEDDING = sa.text(
    """
    UPDATE ai.contact_profiles
    SET embedding = CAST(:embedding AS vector), embedding_model = :embedding_model, updated_at = now()
    WHERE email = :email AND facts_hash = :facts_hash AND prompt_version = :prompt_version
    """
)
# pgvector keeps the declared width in atttypmod.
EMBEDDING_WIDTH = sa.text(
    """
    SELECT atttypmod FROM pg_attribute
    WHERE attrelid = 'ai.contact_profiles'::regclass AND attname = 'embedding' AND NOT attisdropped
    """
)
MODEL_IN_USE = sa.text("SELECT 1 FROM ai.contact_profiles WHERE embedding_model = :model LIMIT 1")

# Only vectors of the query's model: two models' spaces are not comparable.
NEAREST = sa.text(
    """
    SELECT p.email, p.segment, p.purchase_intent, p.churn_risk, p.summary,
           p.embedding <=> CAST(:query AS vector) AS distance
    FROM ai.contact_profiles p
    WHERE p.embedding_model = :model AND NOT ai.is_erased(p.email)
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
    for call in calls:
        conn.execute(INSERT_CALL, vars(call))


def begin_call(engine: Engine, call: LlmCall) -> int:
    """Record a call as 'sending' before it is sent (committed at once): if the answer never comes, or the
    run dies meanwhile, the log still shows a call that may have been billed."""
    with engine.begin() as conn:
        return int(conn.execute(INSERT_CALL, vars(call)).scalar_one())


def end_call(conn: Connection, call_id: int) -> None:
    """The 'sending' row is replaced by the calls' real records (in the caller's transaction)."""
    conn.execute(DELETE_CALL, {"id": call_id})


def settle_open_calls(engine: Engine) -> int:
    with engine.begin() as conn:
        return conn.execute(SETTLE_OPEN_CALLS).rowcount


def spent_today(engine: Engine) -> float:
    with engine.connect() as conn:
        return float(conn.execute(SPENT_TODAY).scalar_one())


def typical_chat_cost(engine: Engine) -> float:
    with engine.connect() as conn:
        return float(conn.execute(TYPICAL_CHAT_COST).scalar_one())


def queued(conn: Connection, consumer: str, limit: int | None = None) -> dict[str, int]:
    """email -> queue seq, oldest change first."""
    rows = conn.execute(QUEUED, {"consumer": consumer, "limit": limit})
    return {email: seq for email, seq in rows}


def drop_missing(conn: Connection, consumer: str, queue: dict[str, int], found: Iterable[str]) -> None:
    """Forget queued e-mails whose contact is gone (or has no facts): there is nothing to do for them."""
    missing = set(queue) - set(found)
    if missing:
        conn.execute(DROP_QUEUED, {"consumer": consumer, "emails": sorted(missing)})


def pending_profiles(
    engine: Engine, prompt_version: str, embedding_model: str, limit: int
) -> list[dict[str, Any]]:
    """Contacts whose facts changed (queued, oldest first), then profiles of another generation."""
    with engine.begin() as conn:
        queue = queued(conn, "profile", limit)
        stale: list[str] = []
        if len(queue) < limit:
            params = {"prompt_version": prompt_version, "model": embedding_model, "limit": limit}
            stale = [e for e in conn.execute(STALE_PROFILES, params).scalars() if e not in queue]
            stale = list(dict.fromkeys(stale))[: limit - len(queue)]
        if not queue and not stale:
            return []
        rows = {
            row["email"]: dict(row)
            for row in conn.execute(CANDIDATES, {"emails": [*queue, *stale]}).mappings()
        }
        drop_missing(conn, "profile", queue, rows)
    # An erased contact stays queued, untouched: a newer consent brings it back (ai.is_erased).
    return [
        {**rows[e], "queue_seq": queue.get(e)}
        for e in [*queue, *stale]
        if e in rows and not rows[e]["erased"]
    ]


def dequeue(conn: Connection, consumer: str, email: str, seq: int | None) -> None:
    """Done with this change, unless another one arrived meanwhile (then `seq` moved and the row stays)."""
    if seq is not None:
        conn.execute(DEQUEUE, {"consumer": consumer, "email": email, "seq": seq})


def events_by_email(conn: Connection, emails: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if emails:
        for row in conn.execute(EVENTS_OF, {"emails": emails}).mappings():
            found[row["email"]].append(dict(row))
    return found


def vector_literal(vector: list[float] | None) -> str | None:
    return None if vector is None else "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def save_profile(conn: Connection, row: dict[str, Any]) -> None:
    """A whole profile; `embedding` None keeps the answer while its embedding is still to be made."""
    conn.execute(
        UPSERT_PROFILE,
        {
            **row,
            "profile": json.dumps(row["profile"], ensure_ascii=False),
            "embedding": vector_literal(row["embedding"]),
            "embedding_model": row["embedding_model"] if row["embedding"] is not None else None,
        },
    )


def save_embedding(conn: Connection, row: dict[str, Any]) -> bool:
    """The new embedding of a stored profile; False when the profile changed meanwhile."""
    params = {**row, "embedding": vector_literal(row["embedding"])}
    return conn.execute(SET_EMBEDDING, params).rowcount == 1


def embedding_width(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(EMBEDDING_WIDTH).scalar_one())


def model_in_use(engine: Engine, model: str) -> bool:
    """A stored vector came from `model`: its width is known to fit the column."""
    with engine.connect() as conn:
        return conn.execute(MODEL_IN_USE, {"model": model}).first() is not None


def nearest_profiles(engine: Engine, vector: list[float], model: str, limit: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        params = {"query": vector_literal(vector), "model": model, "limit": limit}
        rows = conn.execute(NEAREST, params).mappings()
        return [{**dict(row), "distance": float(row["distance"])} for row in rows]
