"""Organizer MCP support objects (issue 12): the per-token request budget of /mcp, shared by every web
worker (a token bucket per token, one row each; the token itself is never stored, only its SHA-256).

Revision ID: 0014_mcp
Revises: 0013_platform
"""

from alembic import op

revision = "0014_mcp"
down_revision = "0013_platform"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE ops.mcp_rate_limits (
            token_sha256 text PRIMARY KEY,
            tokens       double precision NOT NULL,
            allowed      boolean NOT NULL,
            updated_at   timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS ops.mcp_rate_limits")
