"""JSON for bulk API payloads: orjson when installed (3–8× faster on CVDW pages), the standard library
otherwise — same results either way (compact, UTF-8, not ASCII-escaped)."""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is absent
    orjson = None

NAME = "orjson" if orjson is not None else "json"


def loads(data: bytes | str) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # e.g. integers beyond 64 bits: let the standard library decide
    return json.loads(data)


def dumps(value: Any) -> str:
    if orjson is not None:
        try:
            return orjson.dumps(value).decode()
        except TypeError:
            pass  # e.g. integers beyond 64 bits
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
