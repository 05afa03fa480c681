"""CVDW shared rate limit across processes (issue 15).

Revision ID: 0011_cvdw_limits
Revises: 0010_cvdw_sync
"""

from alembic import op

revision = "0011_cvdw_limits"
down_revision = "0010_cvdw_sync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per API account (resources/shared_limit.py): the limit belongs to the account, so every
    # process (run steps, sensors, CLI) takes its turn here. Each caller holds the row lock for one short
    # transaction only; the lease (holder, lease_until) is what keeps one call in flight, and it expires
    # when its holder dies.
    op.execute(
        """
        CREATE TABLE ops.api_rate_limits (
            key         text PRIMARY KEY,
            holder      text,
            lease_until timestamptz,
            not_before  timestamptz   NOT NULL DEFAULT 'epoch',
            recent_ends timestamptz[] NOT NULL DEFAULT '{}',
            calls       bigint        NOT NULL DEFAULT 0,
            updated_at  timestamptz   NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "COMMENT ON TABLE ops.api_rate_limits IS 'Per-account API rate limits shared by every process: "
        "holder/lease_until = the call in flight (expires if its process dies), not_before = the API''s "
        "push-back, recent_ends = when the last N calls ended (at most N may start in any window).'"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS ops.api_rate_limits")
