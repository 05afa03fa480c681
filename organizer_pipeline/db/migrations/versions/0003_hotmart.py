"""Hotmart: the durable webhook inbox, its quarantine, applied events, sales and contacts.

Revision ID: 0003_hotmart
Revises: 0002_cvdw
"""

from alembic import op

revision = "0003_hotmart"
down_revision = "0002_cvdw"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE hotmart.webhook_inbox (
            id            bigserial PRIMARY KEY,
            event_id      text NOT NULL UNIQUE,
            event         text NOT NULL,
            creation_date timestamptz,
            payload       jsonb NOT NULL,
            received_at   timestamptz NOT NULL DEFAULT now(),
            processed_at  timestamptz,
            attempts      integer NOT NULL DEFAULT 0,
            last_error    text
        )
        """
    )
    op.execute(
        "CREATE INDEX webhook_inbox_pending_idx ON hotmart.webhook_inbox (id) WHERE processed_at IS NULL"
    )
    op.execute(
        """
        CREATE TABLE hotmart.webhook_quarantine (
            id          bigserial PRIMARY KEY,
            received_at timestamptz NOT NULL DEFAULT now(),
            source      text NOT NULL DEFAULT 'webhook',
            reason      text NOT NULL,
            event_id    text,
            body        text,
            headers     jsonb NOT NULL DEFAULT '{}'::jsonb
        )
        """
    )
    # `facts` = the parsed event (payloads.HotmartEvent): sales and contacts are rebuilt from it, so the
    # inbox can be purged. It holds personal data: erasure must clear it with the contact.
    # One row per applied inbox event, typed: the history the state machine, funnel and enrichment read.
    op.execute(
        """
        CREATE TABLE hotmart.events (
            event_id     text PRIMARY KEY,
            event        text NOT NULL,
            occurred_at  timestamptz,
            email        text,
            transaction  text,
            product_id   bigint,
            product_name text,
            offer_code   text,
            status       text,
            price        numeric(14,2),
            currency     text,
            facts        jsonb NOT NULL DEFAULT '{}'::jsonb,
            applied_at   timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX events_email_idx ON hotmart.events (email)")
    op.execute("CREATE INDEX events_transaction_idx ON hotmart.events (transaction)")
    op.execute("CREATE INDEX events_event_idx ON hotmart.events (event, occurred_at)")
    op.execute(
        """
        CREATE TABLE hotmart.sales (
            transaction         text PRIMARY KEY,
            status              text NOT NULL,
            product_id          bigint,
            product_name        text,
            offer_code          text,
            price               numeric(14,2),
            currency            text,
            payment_type        text,
            installments        integer,
            producer_commission numeric(14,2),
            commissions         jsonb NOT NULL DEFAULT '[]'::jsonb,
            buyer_email         text,
            order_date          timestamptz,
            approved_at         timestamptz,
            status_history      jsonb NOT NULL DEFAULT '[]'::jsonb,
            last_event_id       text,
            last_event_at       timestamptz,
            created_at          timestamptz NOT NULL DEFAULT now(),
            updated_at          timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX sales_buyer_email_idx ON hotmart.sales (buyer_email)")
    op.execute("CREATE INDEX sales_approved_at_idx ON hotmart.sales (approved_at)")
    op.execute(
        """
        CREATE TABLE hotmart.contacts (
            email          text PRIMARY KEY,
            name           text,
            first_name     text,
            last_name      text,
            phone          text,
            document       text,
            city           text,
            state          text,
            country        text,
            status         text,
            last_event     text,
            first_event_at timestamptz,
            last_event_at  timestamptz,
            lifetime_value numeric(14,2) NOT NULL DEFAULT 0,
            products       jsonb NOT NULL DEFAULT '[]'::jsonb,
            last_product   text,
            subscription   jsonb,
            club           jsonb,
            cart           jsonb,
            facts_hash     text,
            updated_at     timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS hotmart.contacts, hotmart.sales, hotmart.events, "
        "hotmart.webhook_quarantine, hotmart.webhook_inbox"
    )
