"""Least-privilege roles and metrics support (issue 13).

Revision ID: 0013_platform
Revises: 0012_kpi_derived
"""

revision = "0013_platform"
down_revision = "0012_kpi_derived"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
