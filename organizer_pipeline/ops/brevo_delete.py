"""Deleting a Brevo contact for an erasure: `DELETE /v3/contacts/{email}` → 204, 404 when already gone.

Stopgap until `organizer_pipeline.resources.brevo.BrevoClient.delete_contact` (enrichment) is merged; after
that `brevo_deleter_from_env` should return that method instead (same shape: email -> bool)."""

from __future__ import annotations

from urllib.parse import quote

from organizer_pipeline import settings
from organizer_pipeline.ops.erase import BrevoContactDeleter
from organizer_pipeline.resources.http import ApiBadRequest, ApiClient, RetryPolicy


class BrevoContactsClient(ApiClient):
    api_name = "Brevo"

    def auth_hint(self) -> str:
        return "check BREVO_API_KEY"

    def delete_contact(self, email: str) -> bool:
        try:
            self.request("DELETE", f"contacts/{quote(email, safe='')}")
        except ApiBadRequest as error:
            if error.status == 404:
                return False
            raise
        return True


def http_contact_deleter(
    base_url: str, api_key: str, retry: RetryPolicy | None = None
) -> BrevoContactDeleter:
    client = BrevoContactsClient(
        base_url, headers={"api-key": api_key, "accept": "application/json"}, timeout=20.0, retry=retry
    )
    return client.delete_contact


def brevo_deleter_from_env() -> tuple[BrevoContactDeleter | None, str]:
    """The deleter for BREVO_API_KEY, or None and why (no key: the contact never reached a real Brevo)."""
    key = settings.env("BREVO_API_KEY")
    if not key:
        return None, "BREVO_API_KEY is not set, so nothing was ever sent to a real Brevo account"
    return http_contact_deleter(settings.env("BREVO_BASE_URL") or "", key), ""
