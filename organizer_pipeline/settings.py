"""Every environment variable the project reads, with its default, in one place.

Names here are contracts (see DESIGN.md § Interfaces): operators set them in `.env`, docker-compose and CI.
Read them through these helpers so a default lives in exactly one spot, an empty value means that default,
and a malformed value fails with one line naming the variable (`ConfigError`) wherever it is read.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

from organizer_pipeline.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOTENV = PROJECT_ROOT / ".env"

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
    # MCP server (`organizer mcp`, /mcp)
    "ORGANIZER_MCP_PII": (None, "1 = MCP answers show buyers' personal data. Unset: masked."),
    "ORGANIZER_MCP_RATE_PER_MINUTE": ("120", "Requests per minute per token on /mcp (all workers)."),
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


# What a value must look like, checked on every read (unlisted variables are free text).
KINDS: dict[str, str] = {
    "ORGANIZER_WEB_PORT": "port",
    "DAGSTER_WEB_PORT": "port",
    "ORGANIZER_PG_PORT": "port",
    "CVDW_MAX_REQUESTS_PER_MINUTE": "number",
    "OPENROUTER_DAILY_BUDGET_USD": "number",
    "AUDIT_LOG_RETENTION_DAYS": "count",
    "BACKUP_KEEP": "count",
    "CVDW_START_DATE": "date",
    "CVDW_BASE_URL": "http_url",
    "OPENROUTER_BASE_URL": "http_url",
    "BREVO_BASE_URL": "http_url",
    "ORGANIZER_WEB_URL": "http_url",
    "ALERT_WEBHOOK_URL": "http_url",
    "ORGANIZER_LOG_LEVEL": "log_level",
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _problem(kind: str, value: str) -> str | None:
    """Why `value` is not a `kind`, or None when it is."""
    if kind in ("port", "count"):
        low, high, what = (
            (1, 65535, "a TCP port (1-65535)") if kind == "port" else (1, None, "a whole number >= 1")
        )
        try:
            number = int(value)
        except ValueError:
            return f"must be {what}, got {value!r}"
        return (
            None if number >= low and (high is None or number <= high) else f"must be {what}, got {value!r}"
        )
    if kind == "number":
        try:
            return None if float(value) >= 0 else f"must be a number >= 0, got {value!r}"
        except ValueError:
            return f"must be a number >= 0, got {value!r}"
    if kind == "date":
        try:
            date.fromisoformat(value)
        except ValueError:
            return f"must be a date YYYY-MM-DD, got {value!r}"
        return None
    if kind == "http_url":  # the value may hold a secret (chat webhook paths): never echoed
        return (
            None
            if re.match(r"https?://[^/\s]+", value)
            else "must be a full URL starting with https:// or http://"
        )
    if kind == "log_level":
        return (
            None if value.upper() in LOG_LEVELS else f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}"
        )
    return None


def env(name: str) -> str | None:
    """The value of a known variable, or its default; an empty string counts as unset. A malformed value
    raises ConfigError naming the variable."""
    if name not in ENV_VARS:
        raise KeyError(f"{name} is not a documented setting: add it to settings.ENV_VARS")
    value = os.environ.get(name, "").strip()
    if not value:
        return ENV_VARS[name][0]
    problem = _problem(KINDS.get(name, ""), value)
    if problem:
        raise ConfigError(f"{name} {problem} (set in the environment or .env; unset or empty = the default)")
    return value


def env_int(name: str) -> int:
    value = env(name)
    try:
        return int(value or "")
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None


def env_float(name: str) -> float:
    value = env(name)
    try:
        return float(value or "")
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {value!r}") from None


def state_dir() -> Path:
    """ORGANIZER_STATE_DIR (relative paths from the project), or <project>/.organizer when unset or empty.
    Read on every use, so `.env` (loaded by the CLI at start) counts."""
    configured = env("ORGANIZER_STATE_DIR")
    return PROJECT_ROOT / (configured or ".organizer")


def __getattr__(name: str) -> Path:
    # `settings.STATE_DIR` stays the spelling everywhere, but is computed when read, not at import.
    if name == "STATE_DIR":
        return state_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_dotenv(path: Path | None = None) -> list[str]:
    """KEY=VALUE lines of `.env` (the project's, by default) into os.environ; what the shell already set wins,
    and an empty value is not set at all (it means the default). Returns the names it set."""
    path = path or DOTENV
    if not path.is_file():
        return []
    loaded = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), _unquote(value.strip())
        if not equals or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        if value and key not in os.environ:
            os.environ[key] = value
            loaded.append(key)
    return loaded


def _unquote(value: str) -> str:
    """'quoted' and "quoted" values as themselves; an unquoted value ends at ` #` (a comment)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value.split(" #", 1)[0].strip()
