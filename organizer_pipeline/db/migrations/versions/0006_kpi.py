"""KPI support objects (owned by the KPI issue; the views themselves are assets).

Revision ID: 0006_kpi
Revises: 0005_ops
"""

revision = "0006_kpi"
down_revision = "0005_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
