"""Organizer MCP support objects (issue 12).

Revision ID: 0014_mcp
Revises: 0013_platform
"""

revision = "0014_mcp"
down_revision = "0013_platform"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
