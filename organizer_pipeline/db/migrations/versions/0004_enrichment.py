"""AI profiles, LLM call log and Brevo side effects (owned by the enrichment issue).

Revision ID: 0004_enrichment
Revises: 0003_hotmart
"""

from alembic import op

revision = "0004_enrichment"
down_revision = "0003_hotmart"
branch_labels = None
depends_on = None

# Must match organizer_pipeline.enrichment.embeddings.EMBEDDING_DIMENSIONS (openai/text-embedding-3-small;
# other models are asked for this size through the `dimensions` request field).
EMBEDDING_DIMENSIONS = 1536


def upgrade() -> None:
    # The LGPD rule in one place: an e-mail erased on request stays out unless a newer consent exists.
    # Same hash as organizer_pipeline.privacy.email_sha256 (SHA-256 of the trimmed, lower-cased e-mail).
    op.execute(
        """
        CREATE FUNCTION ai.email_sha256(email text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
            SELECT encode(sha256(convert_to(lower(btrim(email)), 'UTF8')), 'hex')
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION ai.is_erased(email text) RETURNS boolean LANGUAGE sql STABLE AS $$
            SELECT EXISTS (
                SELECT 1 FROM ops.erasures r
                WHERE r.email_sha256 = ai.email_sha256(email)
                  AND NOT (r.consent_at IS NOT NULL AND r.consent_at > r.erased_at))
        $$
        """
    )
    # One AI profile per contact, with the facts it was built from, so unchanged contacts are never re-sent.
    op.execute(
        f"""
        CREATE TABLE ai.contact_profiles (
            email           text PRIMARY KEY,
            facts_hash      text NOT NULL,
            segment         text NOT NULL,
            purchase_intent text NOT NULL,
            churn_risk      text NOT NULL,
            profile         jsonb NOT NULL,
            summary         text NOT NULL,
            embedding       vector({EMBEDDING_DIMENSIONS}) NOT NULL,
            model           text NOT NULL,
            embedding_model text NOT NULL,
            prompt_version  text NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "CREATE INDEX contact_profiles_embedding_idx ON ai.contact_profiles "
        "USING hnsw (embedding vector_cosine_ops)"
    )
    # Every OpenRouter call: what it cost, which model answered, and how it ended. No e-mail, only its hash.
    op.execute(
        """
        CREATE TABLE ai.llm_calls (
            id                bigserial PRIMARY KEY,
            called_at         timestamptz NOT NULL DEFAULT now(),
            purpose           text NOT NULL,
            email_sha256      text,
            facts_hash        text,
            requested_model   text NOT NULL,
            model             text,
            generation_id     text,
            status            text NOT NULL CHECK (status IN ('ok', 'invalid', 'error')),
            error             text,
            prompt_tokens     integer NOT NULL DEFAULT 0,
            completion_tokens integer NOT NULL DEFAULT 0,
            total_tokens      integer NOT NULL DEFAULT 0,
            cost_usd          numeric(14,8) NOT NULL DEFAULT 0,
            latency_ms        integer
        )
        """
    )
    op.execute("CREATE INDEX llm_calls_called_at_idx ON ai.llm_calls (called_at)")
    op.execute("CREATE INDEX llm_calls_contact_idx ON ai.llm_calls (email_sha256, facts_hash)")
    # Side-effect ledger: one row per (subject, action) that reached the provider. `subject` is
    # `event:<hotmart event id>` or `contact:<sha256>:<change hash>`, so a retried or re-executed run
    # skips what already happened.
    op.execute(
        """
        CREATE TABLE ai.side_effects (
            subject      text NOT NULL,
            action       text NOT NULL,
            email_sha256 text,
            detail       jsonb NOT NULL DEFAULT '{}'::jsonb,
            done_at      timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (subject, action)
        )
        """
    )
    # What Brevo holds for each contact, as far as we know: the change we last pushed, its lists (kept from
    # the last accepted change when a later one is rejected) and whether Brevo has the contact at all.
    op.execute(
        """
        CREATE TABLE ai.brevo_sync (
            email        text PRIMARY KEY,
            change_hash  text NOT NULL,
            facts_hash   text,
            list_ids     integer[] NOT NULL DEFAULT '{}',
            status       text NOT NULL CHECK (status IN ('synced', 'rejected')),
            in_brevo     boolean NOT NULL DEFAULT false,
            last_error   text,
            synced_at    timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS ai.brevo_sync, ai.side_effects, ai.llm_calls, ai.contact_profiles")
    op.execute("DROP FUNCTION IF EXISTS ai.is_erased(text), ai.email_sha256(text)")
