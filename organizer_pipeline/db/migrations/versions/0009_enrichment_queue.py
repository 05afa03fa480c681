"""Enrichment: pending queue, embedding model, per-sale Brevo state (issue 15).

Revision ID: 0009_enrichment_queue
Revises: 0008_hotmart_inbox
"""

revision = "0009_enrichment_queue"
down_revision = "0008_hotmart_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
