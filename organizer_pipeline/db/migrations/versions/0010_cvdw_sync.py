"""CVDW request economy and resumable windows (issue 11).

Revision ID: 0010_cvdw_sync
Revises: 0009_enrichment_queue
"""

revision = "0010_cvdw_sync"
down_revision = "0009_enrichment_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
