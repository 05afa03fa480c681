"""What the LGPD erase command (ops) calls to remove a person from the enrichment side."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from organizer_pipeline.privacy import email_key

FORGET = (
    sa.text("DELETE FROM ai.contact_profiles WHERE email = :email"),
    sa.text("DELETE FROM ai.brevo_sync WHERE email = :email"),
)


def forget_contact(conn: Connection, email: str) -> int:
    """Delete the person's AI profile (summary + embedding) and Brevo sync state; returns rows deleted.
    ai.llm_calls and ai.side_effects keep only the e-mail's SHA-256 — the record of what was spent and sent.
    Brevo itself: `BrevoClient.delete_contact(email)`. Re-creation is blocked by ops.erasures."""
    key = email_key(email)
    return sum(conn.execute(statement, {"email": key}).rowcount for statement in FORGET)
