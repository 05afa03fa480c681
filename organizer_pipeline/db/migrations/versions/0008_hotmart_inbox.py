"""Hotmart inbox: poison isolation and self-healing (issues 14, 15).

`failed_at` marks an inbox event the processor gave up on: it could not be used (validation), it failed
alone when its batch was applied event by event, or it ran out of attempts. Such a row also has
`processed_at` (the processor is done with it, so "pending" stays `processed_at IS NULL`), its reason in
`last_error` and a `hotmart.webhook_quarantine` row (source 'processor').

Revision ID: 0008_hotmart_inbox
Revises: 0007_ops_safety
"""

from alembic import op

revision = "0008_hotmart_inbox"
down_revision = "0007_ops_safety"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE hotmart.webhook_inbox ADD COLUMN failed_at timestamptz")
    op.execute(
        "CREATE INDEX webhook_inbox_failed_idx ON hotmart.webhook_inbox (failed_at DESC) "
        "WHERE failed_at IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS hotmart.webhook_inbox_failed_idx")
    op.execute("ALTER TABLE hotmart.webhook_inbox DROP COLUMN IF EXISTS failed_at")
