"""The enrichment side of an LGPD erasure, for a caller that needs only that part."""

from __future__ import annotations

from sqlalchemy.engine import Connection


def forget_contact(conn: Connection, email: str) -> int:
    """Delete the person's AI profile (summary + embedding) and Brevo sync state; returns rows deleted.
    These are the `ai.*` rules of the erase command (ops/erase.py TARGETS), with its exact address match.
    ai.llm_calls and ai.side_effects keep only the e-mail's SHA-256 — the record of what was spent and sent.
    Brevo itself: `BrevoClient.delete_contact(email)`. Re-creation is blocked by ops.erasures."""
    from organizer_pipeline.ops.erase import TARGETS, apply_targets

    rows, _ = apply_targets(conn, email, tuple(t for t in TARGETS if t.table.startswith("ai.")))
    return sum(rows.values())
