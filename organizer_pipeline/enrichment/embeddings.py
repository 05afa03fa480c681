"""Embeddings of profiles and semantic search over them (pgvector cosine distance, HNSW index)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from organizer_pipeline.db.engine import read_only
from organizer_pipeline.enrichment import store
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.resources.openrouter import EmbeddingResult, OpenRouterApi, OpenRouterClient

# The width of ai.contact_profiles.embedding (migration 0004). Models that default to another size are asked
# for this one through the `dimensions` request field; a model that cannot comply fails with a clear error
# (enrich.check_embedding_model, before any chat call).
EMBEDDING_DIMENSIONS = 1536
MAX_RESULTS = 50


def embed(api: OpenRouterApi, texts: list[str]) -> EmbeddingResult:
    return api.embed(texts, EMBEDDING_DIMENSIONS)


def embedding_call(result: EmbeddingResult, purpose: str, **subject: Any) -> store.LlmCall:
    return store.LlmCall(
        purpose=purpose,
        requested_model=result.model,
        model=result.model,
        status="ok",
        prompt_tokens=result.usage.prompt_tokens,
        total_tokens=result.usage.total_tokens,
        cost_usd=result.usage.cost_usd,
        latency_ms=result.latency_ms,
        **subject,
    )


def search(engine: Engine, api: OpenRouterApi, text: str, limit: int = 10) -> list[dict[str, Any]]:
    """Contacts whose profile is nearest to `text`, nearest first, with the cosine distance (0 = same),
    among the profiles embedded with the configured model."""
    text = text.strip()
    if not text:
        raise OrganizerError('give a text to search for, e.g. `organizer profiles search "reembolso curso"`')
    if not 1 <= limit <= MAX_RESULTS:
        raise OrganizerError(f"limit must be between 1 and {MAX_RESULTS}")
    result = embed(api, [text[:2000]])
    with engine.begin() as conn:
        store.record_calls(conn, [embedding_call(result, "search")])
    # Only profiles embedded by the same model: another model's vectors live in another space.
    return store.nearest_profiles(read_only(engine), result.vectors[0], api.embedding_model, limit)


def openrouter_from_env() -> OpenRouterApi:
    """For the CLI and the web API, which run outside Dagster: the same settings as the resource."""
    return OpenRouterClient().get_api()
