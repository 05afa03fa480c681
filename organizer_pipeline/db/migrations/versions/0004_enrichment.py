"""AI profiles, LLM call log and Brevo side effects (owned by the enrichment issue).

Revision ID: 0004_enrichment
Revises: 0003_hotmart
"""

revision = "0004_enrichment"
down_revision = "0003_hotmart"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
