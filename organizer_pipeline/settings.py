"""Every environment variable the project reads, with its default, in one place.

Names here are contracts (see DESIGN.md § Interfaces): operators set them in `.env`, docker-compose and CI.
Read them through these helpers so a default lives in exactly one spot.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Runtime state of a local install (embedded database, Dagster artifacts): git-ignored, inside the project.
STATE_DIR = Path(os.environ.get("ORGANIZER_STATE_DIR", PROJECT_ROOT / ".organizer"))

# name -> (default, description). `None` means "no default": unset is meaningful (sandbox or embedded).
ENV_VARS: dict[str, tuple[str | None, str]] = {
    # Databases
    "DATABASE_URL": (None, "Warehouse database (postgresql+psycopg2://…/organizer). Unset: embedded server."),
    "DAGSTER_PG_URL": (
        None,
        "Dagster's storage database. Unset: database `dagster` on the warehouse server.",
    ),
    # CVDW / CVCRM
    "CVCRM_API_EMAIL": (None, "CVDW user e-mail (header `email`)."),
    "CVCRM_API_TOKEN": (None, "CVDW API token (header `token`)."),
    "CVCRM_SUBDOMAIN": (None, "Tenant subdomain: https://<sub>.cvcrm.com.br/api/v1/cvdw."),
    "CVDW_BASE_URL": (None, "Full CVDW base URL; overrides CVCRM_SUBDOMAIN."),
    "CVDW_MAX_REQUESTS_PER_MINUTE": ("20", "Client-side CVDW rate limit."),
    "CVDW_START_DATE": ("2015-01-01", "First daily partition of the CVDW assets."),
    # Hotmart
    "HOTMART_HOTTOK": (None, "Webhook secret sent by Hotmart in X-HOTMART-HOTTOK."),
    # OpenRouter
    "OPENROUTER_API_KEY": (None, "OpenRouter API key."),
    "OPENROUTER_BASE_URL": ("https://openrouter.ai/api/v1", "OpenRouter API base URL."),
    "OPENROUTER_MODELS": ("openai/gpt-4o-mini", "Comma list of chat models: primary first, then fallbacks."),
    "OPENROUTER_EMBEDDING_MODEL": ("openai/text-embedding-3-small", "Embedding model."),
    "OPENROUTER_DAILY_BUDGET_USD": ("5", "Daily spend cap for LLM calls."),
    # Brevo
    "BREVO_API_KEY": (None, "Brevo API key (header api-key)."),
    "BREVO_BASE_URL": ("https://api.brevo.com/v3", "Brevo API base URL."),
    # Web app / API
    "ORGANIZER_API_TOKEN": (None, "Bearer token for /api/*. Unset: the API answers 503."),
    "ORGANIZER_WEB_HOST": ("127.0.0.1", "Web app bind address."),
    "ORGANIZER_WEB_PORT": ("8080", "Web app port."),
    "ORGANIZER_WEB_URL": (None, "Public URL of the web app (dashboard links). Default: http://host:port."),
    "DAGSTER_WEB_HOST": ("127.0.0.1", "Dagster UI bind address."),
    "DAGSTER_WEB_PORT": ("3000", "Dagster UI port."),
    # Operations
    "AUDIT_LOG_RETENTION_DAYS": ("30", "Days of ops.audit_log kept by the daily clean-up."),
    "DAGSTER_RUN_RETENTION_DAYS": ("30", "Days of successful hotmart_inbox_job runs (and events) Dagster keeps."),
    "ALERT_WEBHOOK_URL": (None, "Where run-failure alerts are POSTed (JSON). Unset: no alerts."),
    "BACKUP_DIR": (None, "Where scheduled backups go. Default: .organizer/backups."),
    "BACKUP_KEEP": ("8", "How many scheduled backup files to keep."),
    # Embedded server
    "ORGANIZER_PG_PORT": ("55432", "TCP port of the embedded PostgreSQL (127.0.0.1 only)."),
    "ORGANIZER_STATE_DIR": (None, "Runtime state dir. Default: <project>/.organizer."),
    "ORGANIZER_LOG_LEVEL": ("INFO", "Log level of the organizer's own processes."),
}


def env(name: str) -> str | None:
    """The value of a known variable, or its default; an empty string counts as unset."""
    if name not in ENV_VARS:
        raise KeyError(f"{name} is not a documented setting: add it to settings.ENV_VARS")
    value = os.environ.get(name, "").strip()
    return value or ENV_VARS[name][0]


def env_int(name: str) -> int:
    value = env(name)
    try:
        return int(value or "")
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None


def env_float(name: str) -> float:
    value = env(name)
    try:
        return float(value or "")
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
