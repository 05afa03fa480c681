"""The profile run: for each contact whose facts changed, ask the LLM for a profile (one repair retry),
embed it, and store it with every call's cost — within the daily budget, `concurrency` contacts at a time."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from organizer_pipeline.enrichment import embeddings, profiles, store
from organizer_pipeline.enrichment.workers import exclusive, run_all
from organizer_pipeline.privacy import email_sha256, mask_email
from organizer_pipeline.resources.http import ApiError
from organizer_pipeline.resources.openrouter import ChatOutcome, ChatResult, OpenRouterApi

log = logging.getLogger(__name__)

# Errors that no later contact can escape (key, credits): stop the run instead of failing each one. A 403 is
# OpenRouter's moderation of one prompt, so it fails only that contact.
FINAL_STATUSES = (401, 402)


class Budget:
    """Today's spend against the daily cap, shared by the worker threads. Checked before each contact, so
    at most `concurrency` contacts already in flight can overshoot it."""

    def __init__(self, limit_usd: float, spent_usd: float):
        self.limit_usd, self.spent_usd = limit_usd, spent_usd
        self._lock = threading.Lock()

    def allows(self) -> bool:
        with self._lock:
            return self.spent_usd < self.limit_usd

    def add(self, cost: float) -> None:
        with self._lock:
            self.spent_usd += cost


@dataclass
class ProfileRun:
    pending: int = 0
    profiled: int = 0
    failed: int = 0
    skipped_budget: int = 0
    cost_usd: float = 0.0
    models: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    budget_exhausted: bool = False
    budget: Budget | None = None

    def metadata(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "profiled": self.profiled,
            "failed": self.failed,
            "skipped_budget": self.skipped_budget,
            "budget_exhausted": self.budget_exhausted,
            "cost_usd": round(self.cost_usd, 6),
            "spent_today_usd": round(self.budget.spent_usd, 6) if self.budget else 0.0,
            "models": dict(self.models),
        }


def _chat_call(
    result: ChatResult, purpose: str, status: str, error: str | None, subject: dict[str, str]
) -> store.LlmCall:
    return store.LlmCall(
        purpose=purpose,
        requested_model=result.requested_model,
        model=result.model,
        generation_id=result.generation_id,
        status=status,
        error=error,
        prompt_tokens=result.usage.prompt_tokens,
        completion_tokens=result.usage.completion_tokens,
        total_tokens=result.usage.total_tokens,
        cost_usd=result.usage.cost_usd,
        latency_ms=result.latency_ms,
        **subject,
    )


def _outcome_calls(outcome: ChatOutcome, purpose: str, subject: dict[str, str]) -> list[store.LlmCall]:
    return [
        store.LlmCall(
            purpose=purpose,
            requested_model=f.model,
            status="error",
            error=f.error[:500],
            latency_ms=f.latency_ms,
            **subject,
        )
        for f in outcome.failures
    ]


@dataclass
class ContactOutcome:
    status: str  # profiled | failed | budget
    calls: list[store.LlmCall]
    row: dict[str, Any] | None = None
    problem: str | None = None
    model: str | None = None
    fatal: Exception | None = None  # stops the whole run once its calls are recorded


def ask_profile(
    api: OpenRouterApi, facts: dict[str, Any], subject: dict[str, str], calls: list[store.LlmCall]
) -> tuple[profiles.ContactProfile | None, ChatResult | None, str | None]:
    """The profile and the answer it came from, or the problem; every call made is appended to `calls`."""
    messages = profiles.build_messages(facts)
    problem = None
    for purpose in ("profile", "profile_repair"):
        outcome = api.chat(messages, profiles.response_format())
        calls += _outcome_calls(outcome, purpose, subject)
        result = outcome.result
        if result is None:
            return None, None, "every model failed: " + "; ".join(f.error for f in outcome.failures)[:400]
        try:
            profile = profiles.parse_profile(result.content)
        except profiles.ProfileInvalid as error:
            problem = str(error)
            calls.append(_chat_call(result, purpose, "invalid", problem, subject))
            messages = profiles.repair_messages(messages, result.content, problem)
            continue
        calls.append(_chat_call(result, purpose, "ok", None, subject))
        return profile, result, None
    return None, None, f"answer still invalid after one repair: {problem}"


def profile_contact(
    api: OpenRouterApi, contact: dict[str, Any], events: list[dict[str, Any]]
) -> ContactOutcome:
    subject = {"email_sha256": email_sha256(contact["email"]), "facts_hash": contact["facts_hash"]}
    facts = profiles.contact_facts(contact, events)
    calls: list[store.LlmCall] = []
    stage, model = "profile", api.models[0]
    try:
        profile, answer, problem = ask_profile(api, facts, subject, calls)
        if profile is None or answer is None:
            return ContactOutcome("failed", calls, problem=problem)
        stage, model = "embedding", api.embedding_model
        embedded = embeddings.embed(api, [profiles.embedding_text(profile, facts)])
    except ApiError as error:
        calls.append(
            store.LlmCall(
                purpose=stage, requested_model=model, status="error", error=str(error)[:500], **subject
            )
        )
        fatal = error if error.status in FINAL_STATUSES else None
        return ContactOutcome("failed", calls, problem=str(error), fatal=fatal)
    calls.append(embeddings.embedding_call(embedded, "embedding", **subject))
    row = {
        "email": contact["email"],
        "facts_hash": contact["facts_hash"],
        "segment": profile.segment,
        "purchase_intent": profile.purchase_intent,
        "churn_risk": profile.churn_risk,
        "profile": profile.model_dump(),
        "summary": profile.summary_pt_br,
        "embedding": embedded.vectors[0],
        "model": answer.model,
        "embedding_model": embedded.model,
        "prompt_version": profiles.PROMPT_VERSION,
    }
    return ContactOutcome("profiled", calls, row=row, model=answer.model)


def build_profiles(
    engine: Engine, api: OpenRouterApi, budget_usd: float, *, concurrency: int = 4, limit: int = 10_000
) -> ProfileRun:
    """Profile every changed contact (up to `limit`). Each contact is stored with its calls as soon as it is
    done, so a run that stops halfway keeps its work; a contact that fails stays pending for the next run,
    except when the model's answer was still invalid after the repair (recorded, retried when facts change)."""
    with exclusive(engine, "contact_profiles"):
        return _build_profiles(engine, api, budget_usd, concurrency, limit)


def _build_profiles(
    engine: Engine, api: OpenRouterApi, budget_usd: float, concurrency: int, limit: int
) -> ProfileRun:
    run = ProfileRun()
    contacts = store.pending_contacts(engine, limit)
    run.pending = len(contacts)
    if not contacts:
        return run
    run.budget = budget = Budget(budget_usd, store.spent_today(engine))
    with engine.connect() as conn:
        history = store.events_by_email(conn, [c["email"] for c in contacts])
    lock = threading.Lock()

    def work(contact: dict[str, Any]) -> None:
        if not budget.allows():
            outcome = ContactOutcome("budget", [])
        else:
            outcome = profile_contact(api, contact, history.get(contact["email"], []))
        cost = sum(call.cost_usd for call in outcome.calls)
        budget.add(cost)
        with engine.begin() as conn:
            store.record_calls(conn, outcome.calls)
            if outcome.row:
                store.save_profile(conn, outcome.row)
        if outcome.fatal:
            raise outcome.fatal
        with lock:
            run.cost_usd += cost
            if outcome.status == "profiled":
                run.profiled += 1
                run.models[outcome.model or "?"] = run.models.get(outcome.model or "?", 0) + 1
            elif outcome.status == "budget":
                run.skipped_budget += 1
            else:
                run.failed += 1
                run.failures.append(f"{mask_email(contact['email'])}: {outcome.problem}")
                log.warning("profile of %s failed: %s", mask_email(contact["email"]), outcome.problem)

    run_all(work, contacts, concurrency)
    run.budget_exhausted = run.skipped_budget > 0
    return run
