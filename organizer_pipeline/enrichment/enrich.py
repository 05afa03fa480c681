"""The profile run: for each contact whose facts changed, ask the LLM for a profile (one repair retry),
embed it, and store it with every call's cost — within the daily budget, `concurrency` contacts at a time.

A profile is rebuilt when its facts or the prompt version changed; only re-embedded (no chat call) when the
embedding model changed or its embedding failed. The embedding model's width is checked against the column
before any chat call. A chat answer lost to a timeout may still be billed: it is recorded as 'uncertain' at
a typical price, never re-sent within the run, and after `MAX_UNCERTAIN_CALLS` the contact waits for new facts."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from organizer_pipeline.enrichment import embeddings, profiles, store
from organizer_pipeline.enrichment.workers import exclusive, run_all
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.privacy import email_sha256, mask_email
from organizer_pipeline.resources.http import ApiError, ApiOutcomeUnknown
from organizer_pipeline.resources.openrouter import (
    ChatOutcome,
    ChatResult,
    EmbeddingShapeError,
    OpenRouterApi,
)

log = logging.getLogger(__name__)

# Errors that no later contact can escape (key, credits): stop the run instead of failing each one. A 403 is
# OpenRouter's moderation of one prompt, so it fails only that contact.
FINAL_STATUSES = (401, 402)
EMBED_BATCH = 64  # profiles re-embedded per embeddings call (model change, failed embedding)


class EmbeddingModelMismatch(OrganizerError):
    """The configured embedding model answers vectors that do not fit ai.contact_profiles.embedding."""


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
    embedded_only: int = 0
    failed: int = 0
    uncertain: int = 0
    parked: int = 0
    skipped_budget: int = 0
    cost_usd: float = 0.0
    models: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    budget_exhausted: bool = False
    budget: Budget | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def metadata(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "profiled": self.profiled,
            "embedded_only": self.embedded_only,
            "failed": self.failed,
            "uncertain": self.uncertain,
            "parked": self.parked,
            "skipped_budget": self.skipped_budget,
            "budget_exhausted": self.budget_exhausted,
            "cost_usd": round(self.cost_usd, 6),
            "spent_today_usd": round(self.budget.spent_usd, 6) if self.budget else 0.0,
            "models": dict(self.models),
        }

    def fail(self, email: str, problem: str) -> None:
        with self._lock:
            self.failed += 1
            self.failures.append(f"{mask_email(email)}: {problem}")
        log.warning("profile of %s failed: %s", mask_email(email), problem)


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


def _outcome_calls(
    outcome: ChatOutcome, purpose: str, subject: dict[str, str], lost_cost: float
) -> list[store.LlmCall]:
    return [
        store.LlmCall(
            purpose=purpose,
            requested_model=f.model,
            status="uncertain" if f.uncertain else "error",
            error=f.error[:500],
            latency_ms=f.latency_ms,
            cost_usd=lost_cost if f.uncertain else 0.0,
            **subject,
        )
        for f in outcome.failures
    ]


@dataclass
class ContactOutcome:
    status: str  # profiled | failed | uncertain | invalid | budget
    calls: list[store.LlmCall]
    row: dict[str, Any] | None = None
    problem: str | None = None
    model: str | None = None
    fatal: Exception | None = None  # stops the whole run once its calls are recorded


@dataclass
class Answer:
    ended: str  # ok | failed | uncertain | invalid
    profile: profiles.ContactProfile | None = None
    result: ChatResult | None = None
    problem: str | None = None


def ask_profile(
    api: OpenRouterApi,
    facts: dict[str, Any],
    subject: dict[str, str],
    calls: list[store.LlmCall],
    lost_cost: float = 0.0,
) -> Answer:
    """The profile and the answer it came from, or the problem; every call made is appended to `calls`
    (a lost answer at `lost_cost`, the price it may still be billed)."""
    messages = profiles.build_messages(facts)
    problem = None
    for purpose in ("profile", "profile_repair"):
        outcome = api.chat(messages, profiles.response_format())
        calls += _outcome_calls(outcome, purpose, subject, lost_cost)
        result = outcome.result
        if outcome.uncertain:
            lost = outcome.failures[-1].error
            return Answer(
                "uncertain", problem=f"answer lost (possibly billed), not asked again this run: {lost}"
            )
        if result is None:
            return Answer(
                "failed", problem="every model failed: " + "; ".join(f.error for f in outcome.failures)
            )
        try:
            profile = profiles.parse_profile(result.content)
        except profiles.ProfileInvalid as error:
            problem = str(error)
            calls.append(_chat_call(result, purpose, "invalid", problem, subject))
            messages = profiles.repair_messages(messages, result.content, problem)
            continue
        calls.append(_chat_call(result, purpose, "ok", None, subject))
        return Answer("ok", profile, result)
    return Answer("invalid", problem=f"answer still invalid after one repair: {problem}")


def needs_chat(candidate: dict[str, Any]) -> bool:
    """A new answer is needed when the facts or the prompt changed (or the stored one no longer parses)."""
    if candidate["profile_facts_hash"] != candidate["facts_hash"]:
        return True
    if candidate["profile_prompt_version"] != profiles.PROMPT_VERSION:
        return True
    try:
        profiles.ContactProfile.model_validate(candidate["stored_profile"])
    except ValueError:
        return True
    return False


def profile_contact(
    api: OpenRouterApi, contact: dict[str, Any], events: list[dict[str, Any]], lost_cost: float = 0.0
) -> ContactOutcome:
    """Chat (one repair), then embed. When only the embedding fails the answer is kept (row without a
    vector) so the next run pays for the embedding alone."""
    subject = {"email_sha256": email_sha256(contact["email"]), "facts_hash": contact["facts_hash"]}
    facts = profiles.contact_facts(contact, events)
    calls: list[store.LlmCall] = []
    try:
        asked = ask_profile(api, facts, subject, calls, lost_cost)
    except ApiError as error:
        calls.append(
            store.LlmCall(
                purpose="profile",
                requested_model=api.models[0],
                status="error",
                error=str(error)[:500],
                **subject,
            )
        )
        fatal = error if error.status in FINAL_STATUSES else None
        return ContactOutcome("failed", calls, problem=str(error), fatal=fatal)
    profile, answer = asked.profile, asked.result
    if profile is None or answer is None:
        return ContactOutcome(asked.ended, calls, problem=(asked.problem or "")[:500])
    row = {
        "email": contact["email"],
        "facts_hash": contact["facts_hash"],
        "segment": profile.segment,
        "purchase_intent": profile.purchase_intent,
        "churn_risk": profile.churn_risk,
        "profile": profile.model_dump(),
        "summary": profile.summary_pt_br,
        "embedding": None,
        "model": answer.model,
        "embedding_model": api.embedding_model,  # the configured name: what later runs compare with
        "prompt_version": profiles.PROMPT_VERSION,
    }
    try:
        embedded = embeddings.embed(api, [profiles.embedding_text(profile, facts)])
    except ApiError as error:
        calls.append(
            store.LlmCall(
                purpose="embedding",
                requested_model=api.embedding_model,
                status="uncertain" if isinstance(error, ApiOutcomeUnknown) else "error",
                error=str(error)[:500],
                **subject,
            )
        )
        fatal = error if error.status in FINAL_STATUSES else None
        problem = f"embedding failed (the profile is kept; the next run embeds it, no new chat call): {error}"
        return ContactOutcome("failed", calls, row=row, problem=problem, model=answer.model, fatal=fatal)
    calls.append(embeddings.embedding_call(embedded, "embedding", **subject))
    row["embedding"] = embedded.vectors[0]
    return ContactOutcome("profiled", calls, row=row, model=answer.model)


def check_embedding_model(engine: Engine, api: OpenRouterApi) -> None:
    """One clear error, before any chat call, when the configured model's vectors do not fit the column. A
    model already stored is known to fit; a new one is asked for one two-word embedding."""
    if store.model_in_use(engine, api.embedding_model):
        return
    width = store.embedding_width(engine)
    probe = store.LlmCall(purpose="embedding_check", requested_model=api.embedding_model, status="error")
    try:
        result = api.embed(["verificação de dimensão"], width)
    except EmbeddingShapeError as error:
        probe.error = str(error)[:500]
        with engine.begin() as conn:
            store.record_calls(conn, [probe])
        got = f"{error.width}-number vectors" if error.width else "no usable vector"
        raise EmbeddingModelMismatch(
            f"OPENROUTER_EMBEDDING_MODEL={api.embedding_model} answers {got} but ai.contact_profiles.embedding "
            f"holds {width}: choose a model that honours `dimensions` (e.g. openai/text-embedding-3-small). "
            "No profile was requested."
        ) from None
    with engine.begin() as conn:
        store.record_calls(conn, [embeddings.embedding_call(result, "embedding_check")])


def build_profiles(
    engine: Engine, api: OpenRouterApi, budget_usd: float, *, concurrency: int = 4, limit: int = 10_000
) -> ProfileRun:
    """Profile every changed contact (up to `limit`). Each contact is stored with its calls as soon as it is
    done, so a run that stops halfway keeps its work; a contact that fails stays pending for the next run,
    except when the model's answer was still invalid after the repair (recorded, retried when facts change)."""
    with exclusive(engine, "contact_profiles"):
        return _build_profiles(engine, api, budget_usd, concurrency, limit)


@dataclass
class _Work:
    run: ProfileRun
    engine: Engine
    api: OpenRouterApi
    budget: Budget
    history: dict[str, list[dict[str, Any]]]
    lost_cost: float

    def contact(self, candidate: dict[str, Any]) -> None:
        """Chat (+ embed) one contact: recorded before sending, settled in one transaction after."""
        email = candidate["email"]
        if not self.budget.allows():
            with self.run._lock:
                self.run.skipped_budget += 1
            return
        subject = {"email_sha256": email_sha256(email), "facts_hash": candidate["facts_hash"]}
        marker = store.begin_call(
            self.engine,
            store.LlmCall(
                purpose="profile",
                requested_model=self.api.models[0],
                status="sending",
                cost_usd=self.lost_cost,
                **subject,
            ),
        )
        outcome = profile_contact(self.api, candidate, self.history.get(email, []), self.lost_cost)
        cost = sum(call.cost_usd for call in outcome.calls)
        self.budget.add(cost)
        done = outcome.status in ("profiled", "invalid") or outcome.row is not None
        with self.engine.begin() as conn:
            store.end_call(conn, marker)
            store.record_calls(conn, outcome.calls)
            if outcome.row:
                store.save_profile(conn, outcome.row)
            if done:
                store.dequeue(conn, "profile", email, candidate["queue_seq"])
        if outcome.fatal:
            raise outcome.fatal
        with self.run._lock:
            self.run.cost_usd += cost
            if outcome.row is not None:
                self.run.models[outcome.model or "?"] = self.run.models.get(outcome.model or "?", 0) + 1
            if outcome.status == "profiled":
                self.run.profiled += 1
            elif outcome.status == "uncertain":
                self.run.uncertain += 1
        if outcome.status != "profiled":
            self.run.fail(email, outcome.problem or outcome.status)

    def embed_only(self, batch: list[dict[str, Any]]) -> None:
        """Re-embed stored answers (model changed, or their embedding failed): no chat call."""
        if not self.budget.allows():
            with self.run._lock:
                self.run.skipped_budget += len(batch)
            return
        texts = [
            profiles.embedding_text(
                profiles.ContactProfile.model_validate(c["stored_profile"]), profiles.contact_facts(c, [])
            )
            for c in batch
        ]
        try:
            result = embeddings.embed(self.api, texts)
        except ApiError as error:
            call = store.LlmCall(
                purpose="embedding",
                requested_model=self.api.embedding_model,
                status="error",
                error=str(error)[:500],
            )
            with self.engine.begin() as conn:
                store.record_calls(conn, [call])
            if error.status in FINAL_STATUSES:
                raise
            for candidate in batch:
                self.run.fail(candidate["email"], f"embedding failed (retried next run): {error}")
            return
        self.budget.add(result.usage.cost_usd)
        with self.engine.begin() as conn:
            store.record_calls(conn, [embeddings.embedding_call(result, "embedding")])
            for candidate, vector in zip(batch, result.vectors, strict=True):
                store.save_embedding(
                    conn,
                    {
                        "email": candidate["email"],
                        "facts_hash": candidate["facts_hash"],
                        "prompt_version": profiles.PROMPT_VERSION,
                        "embedding": vector,
                        "embedding_model": self.api.embedding_model,
                    },
                )
                store.dequeue(conn, "profile", candidate["email"], candidate["queue_seq"])
        with self.run._lock:
            self.run.embedded_only += len(batch)
            self.run.cost_usd += result.usage.cost_usd


def _build_profiles(
    engine: Engine, api: OpenRouterApi, budget_usd: float, concurrency: int, limit: int
) -> ProfileRun:
    run = ProfileRun()
    store.settle_open_calls(engine)  # under the lock: a 'sending' row now is a dead run's
    candidates = store.pending_profiles(engine, profiles.PROMPT_VERSION, api.embedding_model, limit)
    chat, embed, parked, current = [], [], [], []
    for candidate in candidates:
        if not needs_chat(candidate):
            current_vector = candidate["profile_embedding_model"] == api.embedding_model
            (current if current_vector else embed).append(candidate)
        elif candidate["invalid_answers"] or candidate["uncertain_calls"] >= store.MAX_UNCERTAIN_CALLS:
            parked.append(candidate)
        else:
            chat.append(candidate)
    run.pending, run.parked = len(chat) + len(embed), len(parked)
    if parked or current:  # parked: their next change queues them again; current: facts changed back
        with engine.begin() as conn:
            for candidate in (*parked, *current):
                store.dequeue(conn, "profile", candidate["email"], candidate["queue_seq"])
    if not chat and not embed:
        return run
    check_embedding_model(engine, api)
    run.budget = budget = Budget(budget_usd, store.spent_today(engine))
    with engine.connect() as conn:
        history = store.events_by_email(conn, [c["email"] for c in chat])
    work = _Work(run, engine, api, budget, history, store.typical_chat_cost(engine))
    batches = [embed[start : start + EMBED_BATCH] for start in range(0, len(embed), EMBED_BATCH)]
    run_all(work.embed_only, batches, concurrency)
    run_all(work.contact, chat, concurrency)
    run.budget_exhausted = run.skipped_budget > 0
    return run
