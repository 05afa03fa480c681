"""Derived tables: prosoluto, VSO reconstruction (issues 11, 14, 15).

Revision ID: 0012_kpi_derived
Revises: 0011_cvdw_limits
"""

revision = "0012_kpi_derived"
down_revision = "0011_cvdw_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
