"""Per-token request budget of /mcp: a token bucket kept in PostgreSQL, so every uvicorn worker (and every
replica) draws from the same bucket. One atomic upsert per request; the row lock serialises concurrent ones.

The bucket holds `per_minute` requests and refills at `per_minute / 60` per second. A refused request does
not spend anything, so a client that backs off for Retry-After seconds gets through.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

TAKE = sa.text(
    """
    INSERT INTO ops.mcp_rate_limits AS b (token_sha256, tokens, allowed, updated_at)
    VALUES (:key, :capacity - 1, true, now())
    ON CONFLICT (token_sha256) DO UPDATE SET
        allowed = least(:capacity, b.tokens + extract(epoch FROM now() - b.updated_at) * :rate) >= 1,
        tokens = least(:capacity, b.tokens + extract(epoch FROM now() - b.updated_at) * :rate)
                 - CASE WHEN least(:capacity, b.tokens + extract(epoch FROM now() - b.updated_at) * :rate) >= 1
                        THEN 1 ELSE 0 END,
        updated_at = now()
    RETURNING allowed, tokens
    """
)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # seconds until one request fits again (0 when allowed)


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def take(engine: Engine, token: str, per_minute: int) -> Decision:
    """Spend one request of this token's budget, if there is one."""
    if per_minute <= 0:  # 0 = unlimited
        return Decision(True, 0)
    rate = per_minute / 60
    with engine.begin() as conn:
        allowed, tokens = conn.execute(
            TAKE, {"key": token_key(token), "capacity": float(per_minute), "rate": rate}
        ).one()
    return Decision(True, 0) if allowed else Decision(False, max(1, math.ceil((1 - tokens) / rate)))
