"""Operations tables: health-check results, failed runs (alert bookkeeping), erasure follow-up.

Revision ID: 0005_ops
Revises: 0004_enrichment
"""

from alembic import op

revision = "0005_ops"
down_revision = "0004_enrichment"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per check per `db_health` run; /health shows the latest row of each check.
    op.execute(
        """
        CREATE TABLE ops.health_checks (
            id         bigserial PRIMARY KEY,
            checked_at timestamptz NOT NULL DEFAULT now(),
            run_id     text,
            check_name text        NOT NULL,
            ok         boolean     NOT NULL,
            value      double precision,
            detail     text        NOT NULL DEFAULT ''
        )
        """
    )
    op.execute("CREATE INDEX health_checks_latest_idx ON ops.health_checks (check_name, checked_at DESC)")
    # Failed Dagster runs: the primary key makes the alert a once-per-run side effect.
    op.execute(
        """
        CREATE TABLE ops.run_failures (
            run_id      text PRIMARY KEY,
            job_name    text        NOT NULL,
            failed_at   timestamptz NOT NULL DEFAULT now(),
            message     text        NOT NULL DEFAULT '',
            alerted_at  timestamptz,
            alert_error text
        )
        """
    )
    op.execute("ALTER TABLE ops.erasures ADD COLUMN brevo_deleted_at timestamptz")
    op.execute("ALTER TABLE ops.erasures ADD COLUMN detail jsonb NOT NULL DEFAULT '{}'::jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE ops.erasures DROP COLUMN IF EXISTS detail")
    op.execute("ALTER TABLE ops.erasures DROP COLUMN IF EXISTS brevo_deleted_at")
    op.execute("DROP TABLE IF EXISTS ops.run_failures")
    op.execute("DROP TABLE IF EXISTS ops.health_checks")
