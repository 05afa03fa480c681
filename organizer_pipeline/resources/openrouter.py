"""OpenRouter (LLM gateway) client: chat completions with a model fallback list and a JSON schema answer,
embeddings, and the usage (tokens, cost, served model) of every call. Contract: contracts/openrouter.md."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import dagster as dg
import requests

from organizer_pipeline import settings
from organizer_pipeline.resources import keys
from organizer_pipeline.resources.http import (
    RETRYABLE_STATUS,
    ApiClient,
    ApiError,
    ApiOutcomeUnknown,
    ApiUnavailable,
    RateLimiter,
    RetryPolicy,
)

# OpenRouter error codes worth another attempt (timeout, rate limit, upstream down, overloaded).
RETRYABLE_CODES = RETRYABLE_STATUS | {529}
# A profile answer is a few hundred tokens; the cap bounds the cost of a model that rambles.
MAX_ANSWER_TOKENS = 1000


class OpenRouterError(ApiError):
    """A final error, including one that arrived inside an HTTP 200 body."""


class EmbeddingShapeError(OpenRouterError):
    """The embedding model answered vectors of another width than asked (it ignores `dimensions`)."""

    def __init__(self, api: str, message: str, width: int | None):
        super().__init__(api, message)
        self.width = width


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0

    @classmethod
    def from_body(cls, usage: Any) -> Usage:
        usage = usage if isinstance(usage, dict) else {}

        def number(key: str) -> float:
            value = usage.get(key)
            return float(value) if isinstance(value, int | float) else 0.0

        return cls(
            int(number("prompt_tokens")),
            int(number("completion_tokens")),
            int(number("total_tokens")),
            number("cost"),
        )


@dataclass(frozen=True)
class ChatResult:
    content: str
    model: str  # the model that actually answered (billing follows it)
    requested_model: str
    generation_id: str | None
    usage: Usage
    latency_ms: int


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]
    model: str
    usage: Usage
    latency_ms: int


@dataclass
class FailedAttempt:
    """A model that could not answer; kept so the caller can record every call, not only the last.
    `uncertain`: the answer was lost (timeout after sending), so the generation may still be billed."""

    model: str
    error: str
    latency_ms: int
    uncertain: bool = False


@dataclass
class ChatOutcome:
    result: ChatResult | None = None
    failures: list[FailedAttempt] = field(default_factory=list)

    @property
    def uncertain(self) -> bool:
        return any(f.uncertain for f in self.failures)


def body_error(body: Any) -> dict[str, Any] | None:
    """The error object of an OpenRouter answer, top-level or inside a choice (both arrive with HTTP 200)."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("error"), dict):
        return body["error"]
    for choice in body.get("choices") or []:
        if isinstance(choice, dict) and isinstance(choice.get("error"), dict):
            return choice["error"]
        if isinstance(choice, dict) and choice.get("finish_reason") == "error":
            return {"code": 502, "message": "the model stopped with finish_reason=error"}
    return None


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class OpenRouterApi(ApiClient):
    api_name = "OpenRouter"

    def __init__(self, base_url: str, api_key: str, models: list[str], embedding_model: str, **kwargs: Any):
        super().__init__(
            base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "X-OpenRouter-Title": "organizer_pipeline",
                "Content-Type": "application/json",
            },
            **kwargs,
        )
        if not models:
            raise OpenRouterError(self.api_name, "no chat model configured: set OPENROUTER_MODELS")
        self.models = models
        self.embedding_model = embedding_model
        self.max_tokens = MAX_ANSWER_TOKENS

    def classify(self, response: requests.Response) -> str | None:
        if response.status_code in RETRYABLE_CODES:
            return f"HTTP {response.status_code}"
        if response.status_code == 200:
            error = body_error(_json_or_none(response))
            if error and error.get("code") in RETRYABLE_CODES:
                return f"error {error.get('code')} inside HTTP 200: {str(error.get('message'))[:100]}"
        return None

    def error_message(self, response: requests.Response) -> str:
        error = body_error(_json_or_none(response))
        if error:
            return f"{error.get('code')} {error.get('message')}"
        return super().error_message(response)

    def auth_hint(self) -> str:
        return "check OPENROUTER_API_KEY"

    def not_applied(self, response: requests.Response) -> bool:
        """Any answer, even an error, means the generation ended without a completion being delivered:
        only a lost answer (timeout, dropped connection) leaves a possibly billed generation behind."""
        return True

    def _post(self, path: str, payload: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """A generation costs money: an attempt whose answer was lost is never repeated here."""
        started = time.monotonic()
        response = self.request("POST", path, json=payload, idempotent=False)
        latency_ms = int((time.monotonic() - started) * 1000)
        body = _json_or_none(response)
        if not isinstance(body, dict):
            raise OpenRouterError(self.api_name, f"{path} answered something that is not a JSON object")
        error = body_error(body)
        if error:
            raise OpenRouterError(
                self.api_name, f"{path} error {error.get('code')}: {error.get('message')}", error.get("code")
            )
        return body, latency_ms

    def chat_once(
        self,
        model: str,
        messages: list[dict[str, str]],
        response_format: dict[str, Any],
        fallbacks: list[str],
    ) -> ChatResult:
        """One completion; `fallbacks` go in `models` so OpenRouter itself falls back on upstream errors."""
        payload: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "response_format": response_format,
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "provider": {"require_parameters": True},
        }
        if fallbacks:
            payload["models"] = [model, *fallbacks]
        body, latency_ms = self._post("chat/completions", payload)
        try:
            content = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise OpenRouterError(self.api_name, "chat answer without choices[0].message.content") from None
        return ChatResult(
            content=content if isinstance(content, str) else json.dumps(content),
            model=str(body.get("model") or model),
            requested_model=model,
            generation_id=body.get("id"),
            usage=Usage.from_body(body.get("usage")),
            latency_ms=latency_ms,
        )

    def chat(self, messages: list[dict[str, str]], response_format: dict[str, Any]) -> ChatOutcome:
        """Try the models in order; a model that stays unavailable (rate limit, 5xx) hands over to the next.
        Auth and bad-request errors are final: another model cannot fix them. A lost answer (timeout) ends
        the attempt: that generation may be billed, so no other model is asked this time."""
        outcome = ChatOutcome()
        for index, model in enumerate(self.models):
            started = time.monotonic()
            try:
                outcome.result = self.chat_once(model, messages, response_format, self.models[index + 1 :])
                return outcome
            except ApiOutcomeUnknown as error:
                latency = int((time.monotonic() - started) * 1000)
                outcome.failures.append(FailedAttempt(model, str(error), latency, uncertain=True))
                return outcome
            except (ApiUnavailable, OpenRouterError) as error:
                final = isinstance(error, OpenRouterError) and error.status not in (None, *RETRYABLE_CODES)
                if final:
                    raise
                latency = int((time.monotonic() - started) * 1000)
                outcome.failures.append(FailedAttempt(model, str(error), latency))
        return outcome

    def embed(self, texts: list[str], dimensions: int) -> EmbeddingResult:
        body, latency_ms = self._post(
            "embeddings", {"model": self.embedding_model, "input": texts, "dimensions": dimensions}
        )
        data = body.get("data")
        if not isinstance(data, list) or len(data) != len(texts):
            raise OpenRouterError(
                self.api_name, f"embeddings answer has no vector for each of {len(texts)} texts"
            )
        ordered = sorted(data, key=lambda item: item.get("index", 0) if isinstance(item, dict) else 0)
        vectors = []
        for item in ordered:
            vector = item.get("embedding") if isinstance(item, dict) else None
            if not isinstance(vector, list) or len(vector) != dimensions:
                got = f"{len(vector)} numbers" if isinstance(vector, list) else "no vector"
                raise EmbeddingShapeError(
                    self.api_name,
                    f"embedding of the wrong shape from {self.embedding_model} ({got}, want {dimensions}): "
                    "check OPENROUTER_EMBEDDING_MODEL",
                    width=len(vector) if isinstance(vector, list) else None,
                )
            vectors.append([float(x) for x in vector])
        return EmbeddingResult(
            vectors,
            str(body.get("model") or self.embedding_model),
            Usage.from_body(body.get("usage")),
            latency_ms,
        )


class OpenRouterClient(dg.ConfigurableResource):
    """OpenRouter from env vars: OPENROUTER_API_KEY / OPENROUTER_BASE_URL / OPENROUTER_MODELS /
    OPENROUTER_EMBEDDING_MODEL / OPENROUTER_DAILY_BUDGET_USD unless set here, read when a run's step starts.
    A missing key fails the run itself, visibly (resources/keys.py)."""

    api_key: Optional[str] = None  # noqa: UP045 - Dagster config fields need Optional on 3.11
    base_url: Optional[str] = None  # noqa: UP045 - Dagster config fields need Optional on 3.11
    models: Optional[str] = None  # noqa: UP045
    embedding_model: Optional[str] = None  # noqa: UP045
    daily_budget_usd: Optional[float] = None  # noqa: UP045
    timeout_seconds: float = 60.0
    retry_attempts: int = 4
    retry_base_delay: float = 1.0
    retry_max_delay: float = 30.0

    def model_list(self) -> list[str]:
        raw = self.models or settings.env("OPENROUTER_MODELS") or ""
        return [model.strip() for model in raw.split(",") if model.strip()]

    def budget_usd(self) -> float:
        if self.daily_budget_usd is not None:
            return self.daily_budget_usd
        return settings.env_float("OPENROUTER_DAILY_BUDGET_USD")

    def get_api(self) -> OpenRouterApi:
        return OpenRouterApi(
            self.base_url or settings.env("OPENROUTER_BASE_URL") or "",
            keys.api_key(
                self.api_key, "OPENROUTER_API_KEY", "AI profiles and semantic search call OpenRouter with it"
            ),
            self.model_list(),
            self.embedding_model or settings.env("OPENROUTER_EMBEDDING_MODEL") or "",
            timeout=self.timeout_seconds,
            limiter=RateLimiter(0),
            retry=RetryPolicy(self.retry_attempts, self.retry_base_delay, self.retry_max_delay),
        )
