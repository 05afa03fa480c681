"""Operator safety and exact erasure (issues 15, 16).

Revision ID: 0007_ops_safety
Revises: 0006_kpi
"""

revision = "0007_ops_safety"
down_revision = "0006_kpi"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
