"""CVDW request economy and resumable windows (issue 11).

Each row of raw.cvdw_sync_windows becomes a checkpoint: written when a window's first page is stored and
updated at every commit (`pages` = pages stored so far, `total_pages` = what the API announced), complete
when `completed_at` is set. A run that dies resumes an incomplete window from `pages + 1`; a re-execution of
a run (same `root_run_id`) also skips the windows that run already completed.

Revision ID: 0010_cvdw_sync
Revises: 0009_enrichment_queue
"""

from alembic import op

revision = "0010_cvdw_sync"
down_revision = "0009_enrichment_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE raw.cvdw_sync_windows
            ADD COLUMN root_run_id text,
            ADD COLUMN total_pages integer,
            ADD COLUMN started_at timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN completed_at timestamptz
        """
    )
    # Rows written before this revision were logged once, when their window was complete.
    op.execute(
        "UPDATE raw.cvdw_sync_windows SET root_run_id = run_id, total_pages = pages, started_at = synced_at,"
        " completed_at = synced_at"
    )
    op.execute(
        "CREATE INDEX cvdw_sync_windows_window_idx ON raw.cvdw_sync_windows (endpoint, window_start, window_end)"
    )
    op.execute("CREATE INDEX cvdw_sync_windows_root_idx ON raw.cvdw_sync_windows (root_run_id, endpoint)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS raw.cvdw_sync_windows_root_idx")
    op.execute("DROP INDEX IF EXISTS raw.cvdw_sync_windows_window_idx")
    # An incomplete checkpoint would read as a finished window to the older code: drop them.
    op.execute("DELETE FROM raw.cvdw_sync_windows WHERE completed_at IS NULL")
    op.execute(
        """
        ALTER TABLE raw.cvdw_sync_windows
            DROP COLUMN completed_at, DROP COLUMN started_at, DROP COLUMN total_pages, DROP COLUMN root_run_id
        """
    )
