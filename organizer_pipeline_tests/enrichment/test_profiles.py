"""Profiles against the OpenRouter simulator and a real PostgreSQL: what is sent, what is stored, what is
skipped, and how every fault ends."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from organizer_pipeline.enrichment import profiles
from organizer_pipeline.enrichment.enrich import build_profiles
from organizer_pipeline_tests.enrichment.conftest import add_contact, add_event, openrouter_client, scalar


def run(engine, server, budget: float = 5.0, **overrides):
    return build_profiles(engine, openrouter_client(server, **overrides).get_api(), budget, concurrency=2)


def chat_calls(server) -> list[dict]:
    return [c for c in server.sim.calls if c["path"] == "chat/completions"]


def test_prompt_carries_no_document_phone_or_email(engine, openrouter_server):
    add_contact(engine, "ana.souza@example.com", document="123.456.789-09", phone="+55 (11) 98765-4321")
    add_event(engine, "e1", "PURCHASE_APPROVED", "ana.souza@example.com")
    assert run(engine, openrouter_server).profiled == 1
    sent = json.dumps(chat_calls(openrouter_server), ensure_ascii=False)
    for secret in ("123.456.789-09", "12345678909", "98765-4321", "987654321", "ana.souza", "Souza"):
        assert secret not in sent
    assert "Curso de Investimentos" in sent  # the behaviour is there


def test_profiles_stored_once_and_unchanged_contacts_not_resent(engine, openrouter_server):
    add_contact(engine, "a@example.com")
    add_contact(engine, "b@example.com", products=["Mentoria de Vendas"], last_product="Mentoria de Vendas")
    first = run(engine, openrouter_server)
    assert (first.pending, first.profiled, first.failed) == (2, 2, 0)
    row = dict(
        scalar(
            engine,
            "SELECT to_jsonb(p) - 'embedding' FROM ai.contact_profiles p WHERE email = 'a@example.com'",
        )
    )
    assert row["model"] == "sandbox/primary" and row["prompt_version"] == profiles.PROMPT_VERSION
    assert row["segment"] in profiles.ContactProfile.model_fields["segment"].annotation.__args__
    assert scalar(engine, "SELECT vector_dims(embedding) FROM ai.contact_profiles LIMIT 1") == 1536
    assert scalar(engine, "SELECT count(*) FROM ai.llm_calls WHERE status = 'ok' AND cost_usd > 0") == 5
    assert scalar(engine, "SELECT count(*) FROM ai.llm_calls WHERE purpose = 'embedding_check'") == 1
    assert scalar(engine, "SELECT sum(total_tokens) FROM ai.llm_calls WHERE purpose = 'profile'") > 0

    calls_before = len(openrouter_server.sim.calls)
    again = run(engine, openrouter_server)
    assert (again.pending, again.profiled) == (0, 0)
    assert len(openrouter_server.sim.calls) == calls_before  # nothing changed: no outside call

    add_contact(engine, "b@example.com", status="REFUNDED", last_event="PURCHASE_REFUNDED")
    changed = run(engine, openrouter_server)
    assert (changed.pending, changed.profiled) == (1, 1)
    assert scalar(engine, "SELECT count(*) FROM ai.contact_profiles") == 2


@pytest.mark.parametrize("openrouter_server", [{"chat_faults": ["schema_violation"]}], indirect=True)
def test_schema_violation_is_repaired_once(engine, openrouter_server):
    add_contact(engine, "a@example.com")
    assert run(engine, openrouter_server).profiled == 1
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT purpose, status, error FROM ai.llm_calls WHERE purpose LIKE 'profile%' ORDER BY id"
            )
        ).all()
    assert [(r.purpose, r.status) for r in rows] == [("profile", "invalid"), ("profile_repair", "ok")]
    assert "schema violation" in rows[0].error
    repair = chat_calls(openrouter_server)[1]["body"]["messages"]
    assert repair[-1]["role"] == "user" and "inválida" in repair[-1]["content"]


@pytest.mark.parametrize(
    "openrouter_server", [{"chat_faults": ["invalid_json", "schema_violation"]}], indirect=True
)
def test_answer_invalid_after_repair_is_recorded_and_not_retried_until_facts_change(
    engine, openrouter_server
):
    add_contact(engine, "a@example.com")
    result = run(engine, openrouter_server)
    assert (result.profiled, result.failed) == (0, 1)
    assert "still invalid after one repair" in result.failures[0]
    assert scalar(engine, "SELECT count(*) FROM ai.llm_calls WHERE status = 'invalid'") == 2
    assert run(engine, openrouter_server).pending == 0  # recorded failure: no money spent again
    add_contact(engine, "a@example.com", status="COMPLETED")
    assert run(engine, openrouter_server).profiled == 1


@pytest.mark.parametrize(
    "openrouter_server",
    [{"chat_faults": ["429", "503", "error_in_200"], "embedding_faults": ["502"]}],
    indirect=True,
)
def test_rate_limits_5xx_and_errors_inside_200_are_retried(engine, openrouter_server):
    add_contact(engine, "a@example.com")
    result = run(engine, openrouter_server, retry_attempts=4)
    assert (result.profiled, result.failed) == (1, 0)
    assert len(chat_calls(openrouter_server)) == 4


@pytest.mark.parametrize("openrouter_server", [{"down_models": {"sandbox/primary"}}], indirect=True)
def test_model_down_falls_back_and_the_served_model_is_recorded(engine, openrouter_server):
    add_contact(engine, "a@example.com")
    assert run(engine, openrouter_server).models == {"sandbox/fallback": 1}
    assert chat_calls(openrouter_server)[0]["body"]["models"] == ["sandbox/primary", "sandbox/fallback"]
    assert scalar(engine, "SELECT model FROM ai.contact_profiles") == "sandbox/fallback"
    assert scalar(engine, "SELECT model FROM ai.llm_calls WHERE purpose = 'profile'") == "sandbox/fallback"


@pytest.mark.parametrize(
    "openrouter_server", [{"chat_faults": ["timeout"], "stall_seconds": 1.0}], indirect=True
)
def test_a_timed_out_model_is_not_asked_again_nor_handed_over_in_the_same_run(engine, openrouter_server):
    """The timed-out generation may be billed: neither a retry nor the fallback model is asked this run."""
    add_contact(engine, "a@example.com")
    result = run(engine, openrouter_server, timeout_seconds=0.3, retry_attempts=3)
    assert (result.profiled, result.uncertain) == (0, 1)
    assert [c["body"]["model"] for c in chat_calls(openrouter_server)] == ["sandbox/primary"]
    assert openrouter_server.sim.billed["chat/completions"] == 1
    assert scalar(engine, "SELECT status FROM ai.llm_calls WHERE purpose = 'profile'") == "uncertain"


def test_every_model_down_is_recorded_and_the_contact_stays_pending(engine, openrouter_server):
    add_contact(engine, "a@example.com")
    openrouter_server.sim.down_models = {"sandbox/primary", "sandbox/fallback"}
    result = run(engine, openrouter_server, retry_attempts=2)
    assert (result.profiled, result.failed) == (0, 1) and "every model failed" in result.failures[0]
    assert scalar(engine, "SELECT count(*) FROM ai.llm_calls WHERE status = 'error'") == 2
    openrouter_server.sim.down_models = set()
    assert run(engine, openrouter_server).profiled == 1  # not lost: the next run picks it up


def test_daily_budget_stops_calls(engine, openrouter_server):
    for n in range(4):
        add_contact(engine, f"c{n}@example.com")
    result = build_profiles(engine, openrouter_client(openrouter_server).get_api(), 0.0004, concurrency=1)
    assert result.budget_exhausted and result.profiled == 1 and result.skipped_budget == 3
    assert result.metadata()["spent_today_usd"] >= 0.0004
    assert len(chat_calls(openrouter_server)) == 1
    assert run(engine, openrouter_server, budget=0.0004).profiled == 0  # still spent today


def test_erased_contact_is_not_profiled(engine, openrouter_server):
    from organizer_pipeline.privacy import email_sha256

    add_contact(engine, "gone@example.com")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO ops.erasures (email_sha256, requested_by) VALUES (%s, 'test')",
            (email_sha256("Gone@Example.com"),),
        )
    assert run(engine, openrouter_server).pending == 0
    assert not openrouter_server.sim.calls


def test_schema_sent_is_the_validated_one():
    schema = profiles.response_format()["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(profiles.ContactProfile.model_fields)
    with pytest.raises(profiles.ProfileInvalid, match="not JSON"):
        profiles.parse_profile("{oops")


def test_facts_keep_behaviour_and_drop_identifiers_from_the_summaries():
    contact = {
        "email": "ana@example.com",
        "name": "Ana Souza",
        "phone": "+5511999990000",
        "document": "12345678909",
        "status": "CUSTOMER",
        "products": [{"id": 1, "name": "Clube VIP", "paid": 1, "statuses": ["APPROVED"]}],
        "subscription": {
            "subscriber_code": "SUB-123",
            "status": "ACTIVE",
            "plan": "Anual",
            "cancelled": False,
        },
        "club": {
            "first_access_at": "2026-03-01",
            "products": ["Clube VIP"],
            "modules_completed": ["Módulo 1"],
        },
        "cart": {"abandoned_at": None, "product": "Ebook", "abandonments": 2, "recovered": True},
    }
    facts = profiles.contact_facts(contact, [])
    text = json.dumps(facts, ensure_ascii=False)
    for identifier in ("SUB-123", "ana@", "Souza", "99999", "12345678909"):
        assert identifier not in text
    assert facts["subscription"] == {"status": "ACTIVE", "plan": "Anual", "cancelled": False}
    assert facts["club"]["modules_completed"] == ["Módulo 1"] and facts["cart"]["abandonments"] == 2
    assert facts["purchases"] == [{"name": "Clube VIP", "paid": 1, "statuses": ["APPROVED"]}]
    assert facts["products"] == ["Clube VIP"]
