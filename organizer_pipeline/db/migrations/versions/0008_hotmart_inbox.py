"""Hotmart inbox: poison isolation and self-healing (issues 14, 15).

Revision ID: 0008_hotmart_inbox
Revises: 0007_ops_safety
"""

revision = "0008_hotmart_inbox"
down_revision = "0007_ops_safety"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
