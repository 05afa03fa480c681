"""Logging for the organizer's own processes: one line per event, personal data and secrets masked."""

from __future__ import annotations

import logging
import sys

from organizer_pipeline import settings
from organizer_pipeline.privacy import RedactingFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%dT%H:%M:%S%z"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or settings.env("ORGANIZER_LOG_LEVEL") or "INFO").upper())
    for noisy in ("alembic", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
