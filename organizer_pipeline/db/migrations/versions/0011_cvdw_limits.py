"""CVDW shared rate limit across processes (issue 15).

Revision ID: 0011_cvdw_limits
Revises: 0010_cvdw_sync
"""

revision = "0011_cvdw_limits"
down_revision = "0010_cvdw_sync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
