"""OpenRouterClient against the simulator: final errors are raised with what to fix, usage is parsed."""

from __future__ import annotations

import pytest

from organizer_pipeline.enrichment.enrich import build_profiles
from organizer_pipeline.resources.http import ApiAuthError, ApiError
from organizer_pipeline.resources.openrouter import OpenRouterError, Usage, body_error
from organizer_pipeline.sandbox.openrouter import create_app
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline_tests.enrichment.conftest import Served, add_contact, openrouter_client, scalar

MESSAGES = [{"role": "user", "content": "{}"}]
FORMAT = {"type": "json_object"}


@pytest.fixture
def server():
    app = create_app(api_key="sk-or-test")
    with serve_in_thread(app) as root:
        yield Served(root, app.state.sim)


def test_wrong_key_names_the_variable(server):
    api = openrouter_client(server, api_key="wrong").get_api()
    with pytest.raises(ApiAuthError, match="OPENROUTER_API_KEY"):
        api.chat(MESSAGES, FORMAT)


def test_out_of_credits_stops_the_profile_run_and_keeps_the_contact(engine, server):
    add_contact(engine, "a@example.com")
    server.sim.chat_faults = ["402"]
    with pytest.raises(ApiError, match="402"):
        build_profiles(engine, openrouter_client(server).get_api(), 5.0)
    assert scalar(engine, "SELECT count(*) FROM ai.contact_profiles") == 0
    assert "402" in scalar(engine, "SELECT error FROM ai.llm_calls WHERE status = 'error'")
    assert build_profiles(engine, openrouter_client(server).get_api(), 5.0).profiled == 1  # credits back


def test_a_bad_request_fails_that_contact_only(engine, server):
    add_contact(engine, "a@example.com")
    add_contact(engine, "b@example.com", status="COMPLETED")
    server.sim.chat_faults = ["400"]
    run = build_profiles(engine, openrouter_client(server).get_api(), 5.0, concurrency=1)
    assert (run.profiled, run.failed) == (1, 1) and "HTTP 400" in run.failures[0]


def test_embedding_of_the_wrong_width_is_refused(server):
    api = openrouter_client(server).get_api()
    assert len(api.embed(["a"], 16).vectors[0]) == 16
    server.sim.embedding_dimensions = 3072  # a model that ignores `dimensions`
    with pytest.raises(OpenRouterError, match="wrong shape"):
        api.embed(["a"], 16)


def test_error_shapes_and_usage():
    assert body_error({"choices": [{"finish_reason": "error"}]})["code"] == 502
    assert body_error({"choices": [{"error": {"code": 403, "message": "flagged"}}]})["code"] == 403
    assert body_error({"choices": [{"finish_reason": "stop"}]}) is None
    assert Usage.from_body(
        {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "cost": 0.01}
    ) == Usage(3, 2, 5, 0.01)
    assert Usage.from_body(None) == Usage()
