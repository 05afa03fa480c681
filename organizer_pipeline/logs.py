"""Logging for the organizer's own processes: one line per event, personal data and secrets masked.

Each record becomes one JSON object on one line (`ts`, `level`, `logger`, `msg`, extra fields, and `exc`
with the traceback folded into the same line), so log shippers parse it without multi-line rules and a
traceback can never leak an e-mail on a line of its own. Masking runs on the finished line, so it covers
the message, its arguments, extra fields and exception text alike."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from organizer_pipeline import settings
from organizer_pipeline.privacy import RedactingFilter, redact

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


def configure_logging(level: str | None = None, stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or settings.env("ORGANIZER_LOG_LEVEL") or "INFO").upper())
    for noisy in ("alembic", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
