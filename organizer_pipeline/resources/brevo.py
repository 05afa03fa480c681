"""Brevo (CRM) client: contact upsert/update/import/delete, attributes, lists and custom events, within
Brevo's 10 requests/s (client-side limiter plus the `x-sib-ratelimit-*` headers). Contract:
contracts/brevo.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, TypeVar
from urllib.parse import quote

import dagster as dg
import requests

from organizer_pipeline import settings
from organizer_pipeline.privacy import email_key, redact
from organizer_pipeline.resources import keys
from organizer_pipeline.resources.http import ApiBadRequest, ApiClient, ApiError, RateLimiter, RetryPolicy

# Brevo's general-plan limit on /v3/contacts/* and /v3/events (requests per second).
BREVO_REQUESTS_PER_SECOND = 10.0
LIST_PAGE_SIZE = 50
EVENT_PAGE_SIZE = 100
T = TypeVar("T")


def _header_seconds(response: requests.Response, name: str) -> float | None:
    try:
        return max(float(response.headers[name]), 0.0)
    except (KeyError, ValueError):
        return None


class BrevoApi(ApiClient):
    api_name = "Brevo"

    def __init__(self, base_url: str, api_key: str, requests_per_second: float, **kwargs: Any):
        super().__init__(
            base_url,
            headers={"api-key": api_key, "accept": "application/json", "content-type": "application/json"},
            limiter=RateLimiter(requests_per_second, per=1.0),
            **kwargs,
        )

    def classify(self, response: requests.Response) -> str | None:
        """Besides the usual retryable codes: when Brevo says the window is used up (remaining 0), hold
        every caller until `x-sib-ratelimit-reset`."""
        reset = _header_seconds(response, "x-sib-ratelimit-reset")
        if reset is not None and _header_seconds(response, "x-sib-ratelimit-remaining") == 0:
            self.limiter.push_back(reset)
        return super().classify(response)

    def retry_after(self, response: requests.Response) -> float | None:
        """Brevo sends no Retry-After: a 429 says when the window resets in `x-sib-ratelimit-reset`."""
        return _header_seconds(response, "x-sib-ratelimit-reset") or super().retry_after(response)

    def error_message(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return super().error_message(response)
        if isinstance(body, dict) and "message" in body:
            return f"{body.get('code')}: {body.get('message')}"
        return super().error_message(response)

    def auth_hint(self) -> str:
        return "check BREVO_API_KEY"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Brevo paths and answers carry e-mails (`contacts/ana%40gmail.com`, "Contact ana@… does not exist"):
        an error that leaves this client, and so may reach Dagster's event log, has them masked."""
        try:
            return super().request(method, path, **kwargs)
        except ApiError as error:
            error.args = (redact(str(error)),)
            raise

    def _read(self, method: str, path: str, parse: Callable[[Any], T], **kwargs: Any) -> T:
        """Call and parse the JSON answer; an answer of the wrong shape is one clear error, not a KeyError."""
        response = self.request(method, path, **kwargs)
        try:
            return parse(response.json())
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ApiError(
                self.api_name, redact(f"unexpected answer to {method} {path}: {response.text[:200]!r}")
            ) from None

    # -- attributes and lists (set up once) -------------------------------------------------------------
    def attribute_names(self) -> set[str]:
        return self._read(
            "GET",
            "contacts/attributes",
            lambda body: {str(item["name"]).upper() for item in body.get("attributes") or []},
        )

    # Set-up writes are not repeated after a lost answer (a second list of the same name would be a
    # duplicate): the run fails, and its re-execution finds what was created by name.
    def create_attribute(self, name: str, kind: str) -> None:
        self.request(
            "POST", f"contacts/attributes/normal/{quote(name)}", json={"type": kind}, idempotent=False
        )

    def lists(self) -> dict[str, int]:
        """Every contact list, name -> id (paged)."""
        found: dict[str, int] = {}
        offset = 0
        while True:
            page, count = self._read(
                "GET",
                "contacts/lists",
                lambda body: (
                    [(str(item["name"]), int(item["id"])) for item in body.get("lists") or []],
                    int(body.get("count") or 0),
                ),
                params={"limit": LIST_PAGE_SIZE, "offset": offset},
            )
            found.update(page)
            offset += len(page)
            if not page or offset >= count:
                return found

    def folder_id(self, name: str) -> int:
        """The id of the folder called `name`, created if missing (Brevo needs one to create a list)."""
        folders = self._read(
            "GET",
            "contacts/folders",
            lambda body: {str(f["name"]): int(f["id"]) for f in body.get("folders") or []},
            params={"limit": LIST_PAGE_SIZE, "offset": 0},
        )
        if name in folders:
            return folders[name]
        return self._read(
            "POST", "contacts/folders", lambda body: int(body["id"]), json={"name": name}, idempotent=False
        )

    def create_list(self, name: str, folder_id: int) -> int:
        payload = {"name": name, "folderId": folder_id}
        return self._read(
            "POST", "contacts/lists", lambda body: int(body["id"]), json=payload, idempotent=False
        )

    # -- contacts ------------------------------------------------------------------------------------------
    def upsert_contact(self, email: str, attributes: dict[str, Any], list_ids: list[int]) -> int:
        """Create, or update when it exists (`updateEnabled`). Returns the HTTP status (201 created, 204 updated).
        A lost answer raises `ApiOutcomeUnknown`: the caller checks with `get_contact` before sending again."""
        payload = {"email": email, "attributes": attributes, "listIds": list_ids, "updateEnabled": True}
        return self.request("POST", "contacts", json=payload, idempotent=False).status_code

    def get_contact(self, email: str) -> dict[str, Any] | None:
        """What Brevo holds for a contact (`id`, `attributes`, `listIds`), or None when it has no such contact."""
        try:
            return self._read(
                "GET",
                f"contacts/{quote(email, safe='')}",
                lambda body: {
                    "id": body.get("id"),
                    "attributes": dict(body.get("attributes") or {}),
                    "listIds": [int(i) for i in body.get("listIds") or []],
                },
            )
        except ApiBadRequest as error:
            if error.status == 404:
                return None
            raise

    def update_contact(
        self, email: str, attributes: dict[str, Any], list_ids: list[int], unlink_list_ids: list[int]
    ) -> bool:
        """Update a known contact (the only call that can also leave lists). False when Brevo no longer has it."""
        payload: dict[str, Any] = {"attributes": attributes, "listIds": list_ids}
        if unlink_list_ids:
            payload["unlinkListIds"] = unlink_list_ids
        try:
            self.request("PUT", f"contacts/{quote(email, safe='')}", json=payload)
        except ApiBadRequest as error:
            if error.status == 404:
                return False
            raise
        return True

    def import_contacts(self, contacts: list[dict[str, Any]], list_ids: list[int]) -> int:
        """Bulk upsert (asynchronous on Brevo's side); returns the process id."""
        payload = {
            "jsonBody": contacts,
            "listIds": list_ids,
            "updateExistingContacts": True,
            "disableNotification": True,
        }
        return self._read(
            "POST",
            "contacts/import",
            lambda body: int(body.get("processId") or 0),
            json=payload,
            idempotent=False,
        )

    def delete_contact(self, email: str) -> bool:
        """LGPD erasure on Brevo's side. True when deleted, False when Brevo did not have the contact."""
        try:
            self.request("DELETE", f"contacts/{quote(email_key(email), safe='')}")
        except ApiBadRequest as error:
            if error.status == 404:
                return False
            raise
        return True

    # -- events --------------------------------------------------------------------------------------------
    def send_event(self, name: str, email: str, occurred_at: str | None, properties: dict[str, Any]) -> None:
        payload: dict[str, Any] = {
            "event_name": name,
            "identifiers": {"email_id": email},
            "event_properties": properties,
        }
        if occurred_at:
            payload["event_date"] = occurred_at
        # Brevo has no idempotency key: a lost answer raises ApiOutcomeUnknown instead of a second event
        # (which would fire the automations twice); the caller reconciles with `find_event`.
        self.request("POST", "events", json=payload, idempotent=False)

    def find_event(self, contact_id: int, name: str, start: str, end: str, prop: str, value: str) -> bool:
        """Whether Brevo holds the custom event `name` of this contact, between the dates (YYYY-MM-DD), whose
        `event_properties[prop]` is `value`. `GET /v3/events` (custom events only)."""
        params: dict[str, Any] = {
            "contact_id": contact_id,
            "event_name": name,
            "startDate": start,
            "endDate": end,
            "limit": EVENT_PAGE_SIZE,
        }
        events = self._read(
            "GET",
            "events",
            lambda body: [e for e in body.get("events") or [] if isinstance(e, dict)],
            params=params,
        )
        return any(str((e.get("event_properties") or {}).get(prop)) == value for e in events)


class BrevoClient(dg.ConfigurableResource):
    """Brevo from env vars: BREVO_API_KEY and BREVO_BASE_URL unless set here, read when a run's step starts
    (a missing key fails the run itself, visibly, naming the variable: resources/keys.py)."""

    api_key: Optional[str] = None  # noqa: UP045 - Dagster config fields need Optional on 3.11
    base_url: Optional[str] = None  # noqa: UP045 - Dagster config fields need Optional on 3.11
    requests_per_second: float = BREVO_REQUESTS_PER_SECOND
    timeout_seconds: float = 30.0
    retry_attempts: int = 6
    retry_base_delay: float = 1.0
    retry_max_delay: float = 30.0

    def get_api(self) -> BrevoApi:
        return BrevoApi(
            self.base_url or settings.env("BREVO_BASE_URL") or "",
            keys.api_key(self.api_key, "BREVO_API_KEY", "the Brevo sync calls Brevo with it"),
            self.requests_per_second,
            timeout=self.timeout_seconds,
            retry=RetryPolicy(self.retry_attempts, self.retry_base_delay, self.retry_max_delay),
        )

    def delete_contact(self, email: str) -> bool:
        """For the LGPD erase command: remove the person from Brevo."""
        return self.get_api().delete_contact(email)
