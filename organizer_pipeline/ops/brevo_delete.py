"""Deleting a Brevo contact for an erasure, through the same Brevo client the sync uses
(`DELETE /v3/contacts/{email}` → 204; 404 when Brevo never had the contact)."""

from __future__ import annotations

from organizer_pipeline import settings
from organizer_pipeline.ops.erase import BrevoContactDeleter
from organizer_pipeline.resources.brevo import BREVO_REQUESTS_PER_SECOND, BrevoApi
from organizer_pipeline.resources.http import RetryPolicy


def http_contact_deleter(
    base_url: str, api_key: str, retry: RetryPolicy | None = None
) -> BrevoContactDeleter:
    return BrevoApi(base_url, api_key, BREVO_REQUESTS_PER_SECOND, timeout=20.0, retry=retry).delete_contact


def brevo_deleter_from_env() -> tuple[BrevoContactDeleter | None, str]:
    """The deleter for BREVO_API_KEY, or None and why (no key: the contact never reached a real Brevo)."""
    key = settings.env("BREVO_API_KEY")
    if not key:
        return None, "BREVO_API_KEY is not set, so nothing was ever sent to a real Brevo account"
    return http_contact_deleter(settings.env("BREVO_BASE_URL") or "", key), ""
