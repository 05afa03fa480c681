"""The CVDW (CVCRM data-warehouse) API: a paging client on top of `ApiClient`, and its Dagster resource.

Wire facts (see shared/contracts/cvdw.md): GET only, headers `email`/`token`, query parameters `pagina`,
`registros_por_pagina` (max 500), `a_partir_data_referencia`/`ate_data_referencia`; the envelope carries
`total_de_paginas` (0 when empty; `pagina` sometimes a string); the server blocks above 20 requests/minute and
says so with the body `{"Response": "Too many requests"}` whatever the status."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional
from urllib.parse import urlsplit

import dagster as dg
import requests

from organizer_pipeline import settings
from organizer_pipeline.errors import ConfigError
from organizer_pipeline.resources import jsoncodec
from organizer_pipeline.resources.http import ApiClient, RateLimiter, RetryPolicy
from organizer_pipeline.resources.shared_limit import SharedRateLimiter
from organizer_pipeline.resources.warehouse import Warehouse

PAGE_SIZE = 500
WIRE_FORMAT = "%Y-%m-%d %H:%M:%S"
CREDENTIAL_VARS = "CVCRM_API_EMAIL / CVCRM_API_TOKEN"


@dataclass(frozen=True)
class Page:
    """One decoded envelope. `rows` are the API's row objects, untouched."""

    number: int
    total_rows: int
    total_pages: int
    rows: list[dict[str, Any]]


def _as_int(value: Any) -> int:
    """Envelope numbers arrive as ints or numeric strings (`"pagina": "1"`)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def decode_envelope(body: Any) -> Page | None:
    """A Page from a decoded JSON body, or None when the body is not a CVDW envelope."""
    if not isinstance(body, dict) or not isinstance(body.get("dados"), list):
        return None
    rows = body["dados"]
    if not all(isinstance(row, dict) for row in rows):
        return None
    return Page(
        _as_int(body.get("pagina")),
        _as_int(body.get("total_de_registros")),
        _as_int(body.get("total_de_paginas")),
        rows,
    )


class CvdwApi(ApiClient):
    """CVDW quirks only; retries, rate limiting and typed errors come from `ApiClient`.

    Each answer is decoded once, in `classify` (a malformed page or a rate-limit body must be retried, and
    deciding that needs the decoded body); the decoded Page rides on the response object."""

    api_name = "CVDW"
    # CV blocks a client that goes over 20 requests/minute and says "try again within a minute": after a
    # block nobody calls for this long (only when the client-side limiter is on).
    rate_limit_pause = 60.0

    def classify(self, response: requests.Response) -> str | None:
        if response.status_code == 204:
            response.cvdw_page = Page(1, 0, 0, [])  # type: ignore[attr-defined]
            return None
        try:
            body = jsoncodec.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("Response") == "Too many requests":
            self.limiter.push_back(self.rate_limit_pause)
            return f"rate limited (HTTP {response.status_code}, 'Too many requests')"
        reason = super().classify(response)
        if reason is not None or response.status_code >= 400:
            return reason
        page = decode_envelope(body)
        if page is None:
            return "malformed page (not a CVDW envelope)"
        response.cvdw_page = page  # type: ignore[attr-defined]
        return None

    def error_message(self, response: requests.Response) -> str:
        """The API's own words: `mensagem` (spec) or `error` (observed) — else the raw text."""
        try:
            body = response.json()
        except ValueError:
            return super().error_message(response)
        if isinstance(body, dict):
            for key in ("mensagem", "error", "message"):
                if isinstance(body.get(key), str):
                    return body[key]
        return super().error_message(response)

    def auth_hint(self) -> str:
        return f"check {CREDENTIAL_VARS} (the administrative user's e-mail and its CVDW token)"

    def get_page(
        self,
        path: str,
        number: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Page:
        params: dict[str, Any] = {"pagina": number, "registros_por_pagina": min(page_size, PAGE_SIZE)}
        if since is not None:
            params["a_partir_data_referencia"] = since.strftime(WIRE_FORMAT)
        if until is not None:
            params["ate_data_referencia"] = until.strftime(WIRE_FORMAT)
        response = self.request("GET", path, params=params)
        return response.cvdw_page  # type: ignore[attr-defined]

    def iter_pages(
        self,
        path: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = PAGE_SIZE,
        first: int = 1,
    ) -> Iterator[Page]:
        """Every page of one date window from page `first` on, one at a time (never the whole window in
        memory).

        Stops after `total_de_paginas`; when the totals say 0 but rows came back (seen in real captures),
        keeps going while pages come back full."""
        number = first
        while True:
            page = self.get_page(path, number, since=since, until=until, page_size=page_size)
            yield page
            if page.total_pages:
                if number >= page.total_pages:
                    return
            elif len(page.rows) < min(page_size, PAGE_SIZE):
                return
            number += 1


class CvdwClient(dg.ConfigurableResource):
    """CVDW credentials and limits. Unset optional fields fall back to the environment when a run starts:
    `CVDW_BASE_URL` or `CVCRM_SUBDOMAIN`, `CVDW_MAX_REQUESTS_PER_MINUTE` (default 20).

    The limit belongs to the tenant, not to a process: it is kept in the warehouse (`warehouse`, unset =
    DATABASE_URL or the embedded server) and shared by every step, run, sensor and CLI call
    (resources/shared_limit.py). A limit of 0 turns it off (no pacing, no database needed)."""

    email: Optional[str] = None  # noqa: UP045 - Dagster config fields need Optional on 3.11
    token: Optional[str] = None  # noqa: UP045
    base_url: Optional[str] = None  # noqa: UP045
    subdomain: Optional[str] = None  # noqa: UP045
    max_requests_per_minute: Optional[float] = None  # noqa: UP045 - 0 disables the client-side limiter
    rate_limit_window_seconds: float = 60.0  # the "minute" of the limit (benchmarks scale it down)
    warehouse: Optional[Warehouse] = None  # noqa: UP045 - where the shared limit lives
    retry_attempts: int = 6
    retry_base_delay_seconds: float = 2.0
    retry_max_delay_seconds: float = 90.0
    timeout_seconds: float = 40.0
    rate_limit_pause_seconds: float = 60.0  # wait after CV's 'Too many requests' before the next call

    def resolved_base_url(self) -> str:
        base = self.base_url or settings.env("CVDW_BASE_URL")
        if base:
            return base.rstrip("/")
        subdomain = self.subdomain or settings.env("CVCRM_SUBDOMAIN")
        if not subdomain:
            raise ConfigError(
                "CVDW: set CVDW_BASE_URL or CVCRM_SUBDOMAIN (the tenant's cvcrm.com.br subdomain)"
            )
        return f"https://{subdomain}.cvcrm.com.br/api/v1/cvdw"

    def get_api(self) -> CvdwApi:
        """A ready client; fails with one line naming the missing variables."""
        email = self.email or settings.env("CVCRM_API_EMAIL")
        token = self.token or settings.env("CVCRM_API_TOKEN")
        if not email or not token:
            raise ConfigError(f"CVDW: credentials missing — set {CREDENTIAL_VARS}")
        rate = self.max_requests_per_minute
        if rate is None:
            rate = settings.env_float("CVDW_MAX_REQUESTS_PER_MINUTE")
        base_url = self.resolved_base_url()
        api = CvdwApi(
            base_url,
            headers={
                "email": email,
                "token": token,
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
            timeout=self.timeout_seconds,
            limiter=self._limiter(base_url, rate),
            retry=RetryPolicy(
                attempts=self.retry_attempts,
                base_delay=self.retry_base_delay_seconds,
                max_delay=self.retry_max_delay_seconds,
            ),
        )
        api.rate_limit_pause = self.rate_limit_pause_seconds
        return api

    def _limiter(self, base_url: str, rate: float) -> RateLimiter:
        if rate <= 0:
            return RateLimiter(0)
        # One limit per tenant host: whether CV counts per user or per tenant is unconfirmed (contract §8),
        # and per tenant is the safe reading.
        key = f"cvdw:{urlsplit(base_url).netloc.lower()}"
        warehouse = self.warehouse or Warehouse()
        return SharedRateLimiter(warehouse.get_engine, key, rate, self.rate_limit_window_seconds)
