"""The audit trail (`ops.audit_log`): who did what to whom, when — the seed's `logs` table."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from organizer_pipeline.privacy import mask_email, redact

INSERT = sa.text(
    "INSERT INTO ops.audit_log (actor, action, subject, detail) VALUES (:actor, :action, :subject, CAST(:detail AS jsonb))"
)


def _masked(detail: dict[str, Any]) -> str:
    return redact(json.dumps(detail, default=str, ensure_ascii=False))


def audit(
    db: Engine | Connection,
    actor: str,
    action: str,
    subject: str | None = None,
    detail: dict[str, Any] | None = None,
    *,
    subject_is_email: bool = False,
) -> None:
    """Record one event. E-mails and documents are masked here, so callers cannot forget."""
    params = {
        "actor": actor,
        "action": action,
        "subject": mask_email(subject) if subject_is_email else (redact(subject) if subject else None),
        "detail": _masked(detail or {}),
    }
    if isinstance(db, Connection):
        db.execute(INSERT, params)
    else:
        with db.begin() as conn:
            conn.execute(INSERT, params)


def audit_many(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Batch form for runs that touch many subjects: rows of actor/action/subject/detail."""
    if not rows:
        return
    conn.execute(
        INSERT,
        [
            {
                "actor": row["actor"],
                "action": row["action"],
                "subject": mask_email(row.get("subject"))
                if row.get("subject_is_email")
                else row.get("subject"),
                "detail": _masked(row.get("detail") or {}),
            }
            for row in rows
        ],
    )
