"""HTTP plumbing shared by every outside API client: one session, a rate limiter, retries that honour
`Retry-After`, and typed errors that say what to fix. Clients subclass `ApiClient` and only describe
their API's quirks (what counts as a retryable answer, how an error body reads)."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from organizer_pipeline.errors import OrganizerError

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# Answers that say the server did not act on the request, so even a non-idempotent one may be sent again.
NOT_APPLIED_STATUS = frozenset({408, 425, 429, 503})


class ApiError(OrganizerError):
    def __init__(self, api: str, message: str, status: int | None = None):
        super().__init__(f"{api}: {message}")
        self.api, self.status = api, status


class ApiAuthError(ApiError):
    """401/403: credentials are wrong; retrying cannot help."""


class ApiBadRequest(ApiError):
    """4xx other than auth/rate limit: the request itself is wrong."""


class ApiUnavailable(ApiError):
    """Retries exhausted on rate limits, 5xx, timeouts or resets."""


class RateLimitDeadline(OrganizerError):
    """The next call could not start before the caller's deadline (a sensor tick must end in time)."""


class ApiOutcomeUnknown(ApiUnavailable):
    """A non-idempotent request got no reliable answer (timeout after sending, dropped connection, gateway
    error): the server may have applied it, so it was not sent again. The caller reconciles or flags it."""


def never_sent(error: requests.RequestException) -> bool:
    """True when the request cannot have reached the server (no connection was made)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


class RateLimiter:
    """Spaces calls evenly: at most `rate` calls per `per` seconds, across the threads of one process.
    `rate <= 0` disables it. `ApiClient` holds a `slot()` for the whole call; limits shared by several
    processes subclass this (resources/shared_limit.py)."""

    def __init__(
        self,
        rate: float,
        per: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = per / rate if rate > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()
        self.waited_seconds = 0.0
        self.latest_start: float | None = None  # clock time after which no call may start (see deadline)

    def acquire(self) -> float:
        """Wait for the next call's turn; the seconds waited."""
        if self.interval <= 0:
            self._check_deadline(self._clock())
            return 0.0
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._check_deadline(start)
            self._next = start + self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
            self.waited_seconds += wait
        return wait

    def push_back(self, seconds: float) -> None:
        """The server told us to wait (Retry-After / reset headers): nobody calls before then."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)

    @contextmanager
    def slot(self) -> Iterator[float]:
        """The turn of one call, held until the call is over (yields the seconds waited for it)."""
        yield self.acquire()

    @contextmanager
    def deadline(self, latest_start: float) -> Iterator[None]:
        """Within the block, a call that cannot start by `latest_start` (this limiter's clock) raises
        RateLimitDeadline at once instead of waiting."""
        previous, self.latest_start = self.latest_start, latest_start
        try:
            yield
        finally:
            self.latest_start = previous

    def _check_deadline(self, start: float) -> None:
        if self.latest_start is not None and start > self.latest_start:
            raise RateLimitDeadline(
                f"the next call could start only in {start - self._clock():.1f} s, after the caller's deadline"
            )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(when - (now if now is not None else time.time()), 0.0)


@dataclass
class CallStats:
    calls: int = 0
    retries: int = 0
    rate_limit_wait_seconds: float = 0.0
    retry_wait_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff, never shorter than what the server asked for."""
        backoff = random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
        return max(backoff, retry_after or 0.0)


class ApiClient:
    """One API. Subclasses set `api_name` and override the `classify`/`error_message` hooks."""

    api_name = "API"

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update(headers or {})
        self.timeout = timeout
        self.limiter = limiter or RateLimiter(0)
        self.retry = retry or RetryPolicy()
        self.stats = CallStats()
        self._sleep = sleep

    # -- hooks -----------------------------------------------------------------------------------------
    def classify(self, response: requests.Response) -> str | None:
        """A reason to retry this answer, or None when it is final (success or a non-retryable error)."""
        if response.status_code in RETRYABLE_STATUS:
            return f"HTTP {response.status_code}"
        return None

    def error_message(self, response: requests.Response) -> str:
        text = response.text.strip().replace("\n", " ")
        return text[:300] or response.reason or "no body"

    def auth_hint(self) -> str:
        return "check the API credentials"

    def retry_after(self, response: requests.Response) -> float | None:
        """Seconds the server asked us to wait before the next attempt (standard: `Retry-After`)."""
        return parse_retry_after(response.headers.get("Retry-After"))

    def not_applied(self, response: requests.Response) -> bool:
        """Whether a retryable answer proves the request was not acted on (safe to send a POST again)."""
        return response.status_code in NOT_APPLIED_STATUS

    # -- the call --------------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> requests.Response:
        """`idempotent=False` (a POST that creates, bills or triggers something): an attempt whose effect is
        unknown is not repeated; `ApiOutcomeUnknown` is raised instead."""
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        kwargs.setdefault("timeout", self.timeout)
        last_problem = "no attempt made"
        unknown = False
        for attempt in range(self.retry.attempts):
            retry_after: float | None = None
            reason: str | None = None
            # The slot is held until the answer is read and judged: a push-back is recorded before the
            # next caller (maybe another process) gets its turn.
            with self.limiter.slot() as waited:
                self.stats.rate_limit_wait_seconds += waited
                self.stats.calls += 1
                try:
                    response = self.session.request(method, url, **kwargs)
                except (requests.Timeout, requests.ConnectionError) as error:
                    reason = f"{type(error).__name__}"
                    unknown = not idempotent and not never_sent(error)
                else:
                    reason = self.classify(response)
                    if reason is not None:
                        unknown = not idempotent and not self.not_applied(response)
                        retry_after = self.retry_after(response)
                        if retry_after is not None:
                            self.limiter.push_back(retry_after)
            if reason is None:
                self._raise_for_final(response)
                return response
            last_problem = reason
            if unknown:
                self.stats.errors.append(last_problem)
                raise ApiOutcomeUnknown(
                    self.api_name,
                    f"{method} {path}: no reliable answer ({last_problem}); it may have been applied, so it "
                    "was not sent again",
                )
            if attempt + 1 < self.retry.attempts:
                delay = self.retry.delay(attempt, retry_after)
                self.stats.retries += 1
                self.stats.retry_wait_seconds += delay
                self._sleep(delay)
        self.stats.errors.append(last_problem)
        raise ApiUnavailable(
            self.api_name,
            f"{method} {path} still failing after {self.retry.attempts} attempts ({last_problem})",
        )

    def _raise_for_final(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        message = self.error_message(response)
        if status in (401, 403):
            raise ApiAuthError(self.api_name, f"HTTP {status} {message} — {self.auth_hint()}", status)
        raise ApiBadRequest(self.api_name, f"HTTP {status}: {message}", status)
