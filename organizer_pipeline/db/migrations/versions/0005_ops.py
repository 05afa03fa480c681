"""Operations tables (owned by the operations issue).

Revision ID: 0005_ops
Revises: 0004_enrichment
"""

revision = "0005_ops"
down_revision = "0004_enrichment"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
