"""Enrichment: pending queue, embedding model, per-sale Brevo state (issue 15).

- `ai.enrichment_queue` / `ai.brevo_event_queue`: what the enrichment assets still have to look at, filled by
  triggers on the Hotmart tables, so an idle run reads an empty queue instead of the whole history (#15.9).
- `ai.contact_profiles`: a profile may lack its embedding (the chat answer is kept when only the embedding
  failed) and is indexed by (prompt_version, embedding_model), so profiles of another generation are found
  without a scan (#15.6).
- `ai.llm_calls.status` 'sending' / 'uncertain' and `ai.side_effects.status`: a call is recorded before it is
  sent, and an answer lost to a timeout stays 'uncertain' instead of being re-sent blindly (#15.10).
- `hotmart.contacts.lifetime_value_by_currency`: LTV per currency; `lifetime_value` is BRL only (#15.7).

Revision ID: 0009_enrichment_queue
Revises: 0008_hotmart_inbox
"""

from alembic import op

revision = "0009_enrichment_queue"
down_revision = "0008_hotmart_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # -- profiles: the chat answer survives a failed embedding; generations are found through an index -------
    op.execute(
        "ALTER TABLE ai.contact_profiles ALTER COLUMN embedding DROP NOT NULL, "
        "ALTER COLUMN embedding_model DROP NOT NULL"
    )
    op.execute(
        "CREATE INDEX contact_profiles_generation_idx ON ai.contact_profiles (prompt_version, embedding_model)"
    )
    op.execute(
        "CREATE INDEX contact_profiles_unembedded_idx ON ai.contact_profiles (email) WHERE embedding IS NULL"
    )

    # -- calls recorded before they are sent ------------------------------------------------------------------
    op.execute("ALTER TABLE ai.llm_calls DROP CONSTRAINT IF EXISTS llm_calls_status_check")
    op.execute(
        "ALTER TABLE ai.llm_calls ADD CONSTRAINT llm_calls_status_check "
        "CHECK (status IN ('ok', 'invalid', 'error', 'sending', 'uncertain'))"
    )
    op.execute("CREATE INDEX llm_calls_open_idx ON ai.llm_calls (id) WHERE status = 'sending'")
    op.execute(
        """
        ALTER TABLE ai.side_effects
            ADD COLUMN status     text NOT NULL DEFAULT 'sent'
                CHECK (status IN ('sending', 'sent', 'uncertain', 'rejected')),
            ADD COLUMN attempts   integer NOT NULL DEFAULT 1,
            ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now()
        """
    )
    op.execute("UPDATE ai.side_effects SET status = 'rejected' WHERE detail->>'status' = 'rejected'")
    op.execute(
        "CREATE INDEX side_effects_open_idx ON ai.side_effects (updated_at) "
        "WHERE status IN ('sending', 'uncertain')"
    )

    # -- LTV per currency (BRL is the home currency: `lifetime_value` keeps meaning "R$") ----------------
    op.execute(
        "ALTER TABLE hotmart.contacts ADD COLUMN lifetime_value_by_currency jsonb NOT NULL DEFAULT '{}'::jsonb"
    )
    # Paid = organizer_pipeline.hotmart.state.PAID (money kept = lifetime value).
    op.execute(
        """
        WITH ltv AS (
            SELECT buyer_email AS email, jsonb_object_agg(currency, total) AS by_currency,
                   coalesce(sum(total) FILTER (WHERE currency = 'BRL'), 0) AS brl
            FROM (SELECT buyer_email, coalesce(currency, 'XXX') AS currency, sum(coalesce(price, 0)) AS total
                  FROM hotmart.sales
                  WHERE status IN ('APPROVED', 'COMPLETE') AND buyer_email IS NOT NULL
                  GROUP BY 1, 2) per_currency
            GROUP BY 1
        )
        UPDATE hotmart.contacts c SET lifetime_value_by_currency = ltv.by_currency, lifetime_value = ltv.brl
        FROM ltv WHERE ltv.email = c.email
        """
    )

    # -- the queues ---------------------------------------------------------------------------------------------
    # One row per (consumer, contact) whose inputs changed; `seq` moves on every new change, so a consumer
    # deletes the row only if nothing changed while it worked (DELETE … WHERE seq = the one it read). Only
    # existing contacts are queued (a sale written before its contact is queued by the contact's insert), so
    # deleting a contact — an erasure — leaves no e-mail behind.
    op.execute("CREATE SEQUENCE ai.enrichment_queue_seq")
    op.execute(
        """
        CREATE TABLE ai.enrichment_queue (
            consumer  text NOT NULL CHECK (consumer IN ('profile', 'brevo')),
            email     text NOT NULL,
            seq       bigint NOT NULL DEFAULT nextval('ai.enrichment_queue_seq'),
            queued_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, email)
        )
        """
    )
    op.execute("CREATE INDEX enrichment_queue_order_idx ON ai.enrichment_queue (consumer, seq)")
    # Hotmart events still to send to Brevo, by id only (no personal data: erasure needs no step here).
    op.execute(
        """
        CREATE TABLE ai.brevo_event_queue (
            event_id  text PRIMARY KEY,
            queued_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE FUNCTION ai.enqueue(consumers text[], address text) RETURNS void LANGUAGE sql AS $$
            INSERT INTO ai.enrichment_queue (consumer, email)
            SELECT unnest(consumers), address
            WHERE EXISTS (SELECT 1 FROM hotmart.contacts c WHERE c.email = address)
            ON CONFLICT (consumer, email) DO UPDATE
                SET seq = nextval('ai.enrichment_queue_seq'), queued_at = now()
        $$
        """
    )
    # One trigger function for every "this contact changed" trigger: TG_ARGV[0] names the column holding the
    # e-mail, TG_ARGV[1] the consumers to queue it for.
    op.execute(
        """
        CREATE FUNCTION ai.queue_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM ai.enqueue(TG_ARGV[1]::text[], to_jsonb(NEW) ->> TG_ARGV[0]);
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION ai.event_applied() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO ai.brevo_event_queue (event_id) VALUES (NEW.event_id) ON CONFLICT DO NOTHING;
            RETURN NULL;
        END $$
        """
    )
    # A deleted contact (LGPD erasure) leaves nothing behind in the queue.
    op.execute(
        """
        CREATE FUNCTION ai.contact_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM ai.enrichment_queue WHERE email = OLD.email;
            RETURN NULL;
        END $$
        """
    )
    # What a profile or a Brevo contact depends on is summed up by facts_hash (hotmart/rebuild.py); Brevo
    # lists follow each sale's state; AI_SEGMENT is a Brevo attribute.
    op.execute(
        """
        CREATE TRIGGER enrichment_contact_inserted AFTER INSERT ON hotmart.contacts
        FOR EACH ROW WHEN (NEW.facts_hash IS NOT NULL)
        EXECUTE FUNCTION ai.queue_change('email', '{profile,brevo}')
        """
    )
    op.execute(
        """
        CREATE TRIGGER enrichment_contact_updated AFTER UPDATE OF facts_hash ON hotmart.contacts
        FOR EACH ROW WHEN (NEW.facts_hash IS NOT NULL AND NEW.facts_hash IS DISTINCT FROM OLD.facts_hash)
        EXECUTE FUNCTION ai.queue_change('email', '{profile,brevo}')
        """
    )
    op.execute(
        """
        CREATE TRIGGER enrichment_contact_deleted AFTER DELETE ON hotmart.contacts
        FOR EACH ROW EXECUTE FUNCTION ai.contact_deleted()
        """
    )
    op.execute(
        """
        CREATE TRIGGER enrichment_sale_inserted AFTER INSERT ON hotmart.sales
        FOR EACH ROW WHEN (NEW.buyer_email IS NOT NULL)
        EXECUTE FUNCTION ai.queue_change('buyer_email', '{brevo}')
        """
    )
    op.execute(
        """
        CREATE TRIGGER enrichment_sale_updated AFTER UPDATE OF status, buyer_email ON hotmart.sales
        FOR EACH ROW WHEN (NEW.buyer_email IS NOT NULL
                           AND (NEW.status IS DISTINCT FROM OLD.status
                                OR NEW.buyer_email IS DISTINCT FROM OLD.buyer_email))
        EXECUTE FUNCTION ai.queue_change('buyer_email', '{brevo}')
        """
    )
    op.execute(
        """
        CREATE TRIGGER enrichment_profile_inserted AFTER INSERT ON ai.contact_profiles
        FOR EACH ROW EXECUTE FUNCTION ai.queue_change('email', '{brevo}')
        """
    )
    op.execute(
        """
        CREATE TRIGGER enrichment_segment_changed AFTER UPDATE OF segment ON ai.contact_profiles
        FOR EACH ROW WHEN (NEW.segment IS DISTINCT FROM OLD.segment)
        EXECUTE FUNCTION ai.queue_change('email', '{brevo}')
        """
    )
    op.execute(
        """
        CREATE TRIGGER enrichment_event_applied AFTER INSERT ON hotmart.events
        FOR EACH ROW WHEN (NEW.email IS NOT NULL) EXECUTE FUNCTION ai.event_applied()
        """
    )

    # -- what was pending before the queue existed (the old rules, evaluated once) ------------------------
    op.execute(
        """
        INSERT INTO ai.enrichment_queue (consumer, email)
        SELECT 'profile', c.email
        FROM hotmart.contacts c LEFT JOIN ai.contact_profiles p ON p.email = c.email
        WHERE c.facts_hash IS NOT NULL AND p.facts_hash IS DISTINCT FROM c.facts_hash
        """
    )
    op.execute(
        """
        INSERT INTO ai.enrichment_queue (consumer, email)
        SELECT 'brevo', c.email
        FROM hotmart.contacts c
        LEFT JOIN ai.contact_profiles p ON p.email = c.email
        LEFT JOIN ai.brevo_sync s ON s.email = c.email
        WHERE c.facts_hash IS NOT NULL
          AND (s.email IS NULL OR s.facts_hash IS DISTINCT FROM c.facts_hash OR p.updated_at > s.synced_at
               OR c.lifetime_value_by_currency - 'BRL' <> '{}'::jsonb)  -- LTV was summed across currencies
        """
    )
    op.execute(
        """
        INSERT INTO ai.brevo_event_queue (event_id)
        SELECT e.event_id FROM hotmart.events e
        WHERE e.email IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM ai.side_effects x
                          WHERE x.subject = 'event:' || e.event_id AND x.action = 'brevo_event')
        """
    )


def downgrade() -> None:
    for trigger, table in (
        ("enrichment_event_applied", "hotmart.events"),
        ("enrichment_segment_changed", "ai.contact_profiles"),
        ("enrichment_profile_inserted", "ai.contact_profiles"),
        ("enrichment_sale_updated", "hotmart.sales"),
        ("enrichment_sale_inserted", "hotmart.sales"),
        ("enrichment_contact_deleted", "hotmart.contacts"),
        ("enrichment_contact_updated", "hotmart.contacts"),
        ("enrichment_contact_inserted", "hotmart.contacts"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    op.execute(
        "DROP FUNCTION IF EXISTS ai.event_applied(), ai.queue_change(), ai.contact_deleted(), "
        "ai.enqueue(text[], text)"
    )
    op.execute("DROP TABLE IF EXISTS ai.brevo_event_queue, ai.enrichment_queue")
    op.execute("DROP SEQUENCE IF EXISTS ai.enrichment_queue_seq")
    # lifetime_value stays BRL-only: the old sum across currencies is not worth restoring.
    op.execute("ALTER TABLE hotmart.contacts DROP COLUMN IF EXISTS lifetime_value_by_currency")
    op.execute("DROP INDEX IF EXISTS ai.side_effects_open_idx")
    op.execute("DELETE FROM ai.side_effects WHERE status IN ('sending', 'uncertain')")
    op.execute("ALTER TABLE ai.side_effects DROP COLUMN status, DROP COLUMN attempts, DROP COLUMN updated_at")
    op.execute("DROP INDEX IF EXISTS ai.llm_calls_open_idx")
    op.execute("UPDATE ai.llm_calls SET status = 'error' WHERE status IN ('sending', 'uncertain')")
    op.execute("ALTER TABLE ai.llm_calls DROP CONSTRAINT IF EXISTS llm_calls_status_check")
    op.execute(
        "ALTER TABLE ai.llm_calls ADD CONSTRAINT llm_calls_status_check CHECK (status IN ('ok', 'invalid', 'error'))"
    )
    op.execute("DROP INDEX IF EXISTS ai.contact_profiles_unembedded_idx, ai.contact_profiles_generation_idx")
    op.execute("DELETE FROM ai.contact_profiles WHERE embedding IS NULL")
    op.execute(
        "ALTER TABLE ai.contact_profiles ALTER COLUMN embedding SET NOT NULL, "
        "ALTER COLUMN embedding_model SET NOT NULL"
    )
