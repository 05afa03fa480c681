"""Operator safety and exact erasure (issues 15, 16): the source of the consent that lifted an erasure.

Revision ID: 0007_ops_safety
Revises: 0006_kpi
"""

from alembic import op

revision = "0007_ops_safety"
down_revision = "0006_kpi"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # consent_event_id says which event; this says what it was ("hotmart PURCHASE_APPROVED"), so the register
    # answers "why is this person back?" without the inbox (ops/consent.py).
    op.execute("ALTER TABLE ops.erasures ADD COLUMN consent_source text")


def downgrade() -> None:
    op.execute("ALTER TABLE ops.erasures DROP COLUMN IF EXISTS consent_source")
