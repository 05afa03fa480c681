"""API keys of the outside services, read when a step starts."""

from __future__ import annotations

from organizer_pipeline import settings
from organizer_pipeline.errors import ConfigError


def api_key(configured: str | None, variable: str, needed_by: str) -> str:
    """The key set on the resource, else the environment variable's. Not a `dg.EnvVar`: a missing EnvVar
    stops Dagster before the run exists, so nobody sees why; read here, it fails the run itself, in the UI,
    with one line naming the variable."""
    key = configured or settings.env(variable)
    if not key:
        raise ConfigError(
            f"{variable} is not set: {needed_by} (set it in .env, or leave every API key unset and let "
            "`organizer up` start the simulators)"
        )
    return key
