"""The OpenRouter simulator answers the requested schema, embeds deterministically and fails on demand."""

from __future__ import annotations

import json

import pytest
import requests

from organizer_pipeline.enrichment.profiles import ContactProfile, response_format
from organizer_pipeline.sandbox.openrouter import create_app, hashed_embedding
from organizer_pipeline.sandbox.server import serve_in_thread


@pytest.fixture
def openrouter():
    app = create_app(api_key="sk-or-ok", chat_faults=["error_in_200", "429"])
    with serve_in_thread(app) as root:
        yield f"{root}/api/v1", app.state.sim


def post(base, path, body, key="sk-or-ok"):
    return requests.post(f"{base}/{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def test_chat_faults_then_a_valid_answer_with_usage(openrouter):
    base, _ = openrouter
    body = {
        "model": "m/a",
        "messages": [{"role": "user", "content": '{"products": ["Curso X"]}'}],
        "response_format": response_format(),
    }
    inside = post(base, "chat/completions", body)
    assert inside.status_code == 200 and inside.json()["error"]["code"] == 502
    limited = post(base, "chat/completions", body)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "0"
    answer = post(base, "chat/completions", body).json()
    profile = ContactProfile.model_validate(json.loads(answer["choices"][0]["message"]["content"]))
    assert profile.interests == ["Curso X"] and answer["usage"]["cost"] > 0 and answer["model"] == "m/a"
    assert post(base, "chat/completions", body, key="nope").status_code == 401


def test_embeddings_are_deterministic_and_similar_texts_are_near(openrouter):
    base, _ = openrouter
    answer = post(
        base, "embeddings", {"model": "e", "input": ["curso de investimentos", "x"], "dimensions": 8}
    )
    vectors = [d["embedding"] for d in answer.json()["data"]]
    assert vectors[0] == hashed_embedding("curso de investimentos", 8) and len(vectors[1]) == 8
    near = sum(
        a * b
        for a, b in zip(
            hashed_embedding("curso investimentos", 64), hashed_embedding("investimentos", 64), strict=True
        )
    )
    far = sum(
        a * b
        for a, b in zip(
            hashed_embedding("curso investimentos", 64), hashed_embedding("receitas", 64), strict=True
        )
    )
    assert near > far
