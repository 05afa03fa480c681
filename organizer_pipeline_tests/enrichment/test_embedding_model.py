"""Embedding-model and prompt changes (#15.6), counted in the OpenRouter simulator's calls: a new model
re-embeds without chat calls, a new prompt re-asks, a failed embedding is retried alone, search never mixes
models, and a model of the wrong width stops before any chat call."""

from __future__ import annotations

import dagster as dg
import pytest

from organizer_pipeline.enrichment import profiles
from organizer_pipeline.enrichment.assets import contact_profiles
from organizer_pipeline.enrichment.embeddings import search
from organizer_pipeline.enrichment.enrich import EmbeddingModelMismatch, build_profiles
from organizer_pipeline.resources.warehouse import Warehouse
from organizer_pipeline_tests.enrichment.conftest import add_contact, openrouter_client, scalar

MODEL_A, MODEL_B = "openai/text-embedding-3-small", "sandbox/embedding-b"


def run(engine, server, model: str = MODEL_A, **kwargs):
    api = openrouter_client(server, embedding_model=model).get_api()
    return build_profiles(engine, api, 5.0, concurrency=2, **kwargs)


def calls(server, path: str) -> int:
    return sum(1 for c in server.sim.calls if c["path"] == path)


def seed(engine, server, n: int = 3) -> None:
    for i in range(n):
        add_contact(engine, f"c{i}@example.com", products=[f"Curso {i}"], last_product=f"Curso {i}")
    assert run(engine, server).profiled == n


def test_a_new_embedding_model_re_embeds_every_profile_without_a_chat_call(engine, openrouter_server):
    seed(engine, openrouter_server)
    chats, embeds = calls(openrouter_server, "chat/completions"), calls(openrouter_server, "embeddings")

    result = run(engine, openrouter_server, model=MODEL_B)
    assert (result.pending, result.embedded_only, result.profiled) == (3, 3, 0)
    assert calls(openrouter_server, "chat/completions") == chats  # no chat paid again
    # one width check of the new model, then one batched call for the three profiles
    assert calls(openrouter_server, "embeddings") == embeds + 2
    assert (
        scalar(engine, "SELECT count(*) FROM ai.contact_profiles WHERE embedding_model = :m", m=MODEL_B) == 3
    )

    before = len(openrouter_server.sim.calls)
    assert run(engine, openrouter_server, model=MODEL_B).pending == 0
    assert len(openrouter_server.sim.calls) == before  # current everywhere: nothing to do, no call


def test_a_new_prompt_version_asks_again(engine, openrouter_server, monkeypatch):
    seed(engine, openrouter_server, n=2)
    chats = calls(openrouter_server, "chat/completions")
    monkeypatch.setattr(profiles, "PROMPT_VERSION", "profile-v-next")
    result = run(engine, openrouter_server)
    assert (result.pending, result.profiled) == (2, 2)
    assert calls(openrouter_server, "chat/completions") == chats + 2
    assert scalar(engine, "SELECT count(DISTINCT prompt_version) FROM ai.contact_profiles") == 1
    assert run(engine, openrouter_server).pending == 0


def test_when_only_the_embedding_failed_the_chat_is_not_paid_again(engine, openrouter_server):
    seed(engine, openrouter_server, n=1)
    add_contact(engine, "new@example.com")
    openrouter_server.sim.embedding_faults = ["400"]
    failed = run(engine, openrouter_server)
    assert (failed.profiled, failed.failed) == (0, 1) and "profile is kept" in failed.failures[0]
    kept = scalar(
        engine,
        "SELECT segment IS NOT NULL AND embedding IS NULL FROM ai.contact_profiles WHERE email = 'new@example.com'",
    )
    assert kept is True
    chats, embeds = calls(openrouter_server, "chat/completions"), calls(openrouter_server, "embeddings")

    retried = run(engine, openrouter_server)
    assert (retried.embedded_only, retried.profiled) == (1, 0)
    assert calls(openrouter_server, "chat/completions") == chats  # the answer was kept: no chat call
    assert calls(openrouter_server, "embeddings") == embeds + 1
    assert scalar(engine, "SELECT count(*) FROM ai.contact_profiles WHERE embedding IS NULL") == 0


def test_search_only_ranks_vectors_of_the_query_model(engine, openrouter_server):
    seed(engine, openrouter_server, n=3)
    api_b = openrouter_client(openrouter_server, embedding_model=MODEL_B).get_api()
    assert search(engine, api_b, "curso", limit=5) == []  # model B's query never meets model A's vectors
    assert run(engine, openrouter_server, model=MODEL_B, limit=1).embedded_only == 1
    re_embedded = scalar(
        engine, "SELECT email FROM ai.contact_profiles WHERE embedding_model = :m", m=MODEL_B
    )
    assert [r["email"] for r in search(engine, api_b, "curso", limit=5)] == [re_embedded]
    api_a = openrouter_client(openrouter_server, embedding_model=MODEL_A).get_api()
    assert len(search(engine, api_a, "curso", limit=5)) == 2


@pytest.mark.parametrize("openrouter_server", [{"embedding_dimensions": 3072}], indirect=True)
def test_a_model_of_another_width_is_one_clear_error_before_any_chat_call(db_url, engine, openrouter_server):
    for i in range(3):
        add_contact(engine, f"c{i}@example.com")
    with pytest.raises(EmbeddingModelMismatch, match="3072-number vectors .* holds 1536"):
        run(engine, openrouter_server, model="qwen/qwen3-embedding-8b")
    assert calls(openrouter_server, "chat/completions") == 0
    assert calls(openrouter_server, "embeddings") == 1

    resources = {
        "warehouse": Warehouse(database_url=db_url.render_as_string(hide_password=False)),
        "openrouter": openrouter_client(openrouter_server, embedding_model="qwen/qwen3-embedding-8b"),
    }
    result = dg.materialize([contact_profiles], resources=resources, raise_on_error=False)
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert "OPENROUTER_EMBEDDING_MODEL=qwen/qwen3-embedding-8b" in failure.message
    assert failure.cause is None and calls(openrouter_server, "chat/completions") == 0
    assert scalar(engine, "SELECT count(*) FROM ai.enrichment_queue WHERE consumer = 'profile'") == 3  # kept
