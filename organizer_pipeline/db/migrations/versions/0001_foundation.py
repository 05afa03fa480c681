"""Schemas, pgvector, the audit trail and the erasure register.

Revision ID: 0001_foundation
Revises:
"""

from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

SCHEMAS = ("raw", "core", "hotmart", "ai", "kpi", "ops")


def upgrade() -> None:
    for schema in SCHEMAS:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    # The seed's audit trail: who did what to whom, when. `subject` never holds a raw e-mail (masked).
    op.execute(
        """
        CREATE TABLE ops.audit_log (
            id          bigserial PRIMARY KEY,
            occurred_at timestamptz NOT NULL DEFAULT now(),
            actor       text        NOT NULL,
            action      text        NOT NULL,
            subject     text,
            detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
        )
        """
    )
    op.execute("CREATE INDEX audit_log_occurred_at_idx ON ops.audit_log (occurred_at)")
    op.execute("CREATE INDEX audit_log_action_idx ON ops.audit_log (action, occurred_at)")
    # LGPD erasures, keyed by the SHA-256 of the lower-cased e-mail so the register keeps no e-mail itself.
    op.execute(
        """
        CREATE TABLE ops.erasures (
            email_sha256      text PRIMARY KEY,
            erased_at         timestamptz NOT NULL DEFAULT now(),
            requested_by      text NOT NULL,
            consent_event_id  text,
            consent_at        timestamptz
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS ops.erasures")
    op.execute("DROP TABLE IF EXISTS ops.audit_log")
    for schema in reversed(SCHEMAS):
        op.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
