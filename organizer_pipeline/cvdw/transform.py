"""From API rows to stored rows.

Python does the minimum per row (the stage line: referencia, content hash, the row's JSON); PostgreSQL does
the typing while merging, with the `core.cvdw_*` functions of migration 0002 (zero dates → NULL, numeric
strings → numeric, DD/MM/YYYY dates). The SQL here is built only from the endpoint table (trusted code),
never from API text."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from organizer_pipeline.cvdw.endpoints import Column, Endpoint
from organizer_pipeline.db.bulk import copy_value

STAGE_COLUMNS = [("referencia", "text"), ("row_hash", "text"), ("payload", "jsonb")]

_CASTS = {
    "text": "{v}",
    "bigint": "core.cvdw_bigint({v})",
    "integer": "core.cvdw_bigint({v})::integer",
    "numeric": "core.cvdw_numeric({v})",
    "timestamp": "core.cvdw_timestamp({v})",
    "date": "core.cvdw_timestamp({v})::date",
}
_VALIDATED_AS = {"bigint": "bigint", "integer": "integer", "numeric": "numeric", "timestamp": "timestamp"}


def _field(key: str) -> str:
    """`payload->>'key'` — keys come from the endpoint table and are plain identifiers."""
    if not key.replace("_", "").isalnum():
        raise ValueError(f"unexpected payload key {key!r}")
    return f"payload->>'{key}'"


def typed(column: Column) -> str:
    return _CASTS[column.type].format(v=_field(column.source))


RAW_COLUMNS = ["referencia", "referencia_data", "ativo", "payload", "row_hash"]
RAW_EXPRESSIONS = {
    "referencia_data": typed(Column("referencia_data", "timestamp", "referencia_data")),
    "ativo": _field("ativo"),
}


def core_columns(endpoint: Endpoint) -> list[str]:
    return ["referencia", "referencia_data", "ativo", *(c.name for c in endpoint.columns), "row_hash"]


def core_expressions(endpoint: Endpoint) -> dict[str, str]:
    return {**RAW_EXPRESSIONS, **{c.name: typed(c) for c in endpoint.columns}}


def invalid_columns_sql(endpoint: Endpoint) -> str:
    """SQL array of the names of typed columns whose value is present but does not convert."""
    checks = [
        f"CASE WHEN NOT core.cvdw_valid({_field(c.source)}, '{_VALIDATED_AS.get(c.type, 'timestamp')}') "
        f"THEN '{c.name}' END"
        for c in (Column("referencia_data", "timestamp", "referencia_data"), *endpoint.columns)
        if c.type != "text"
    ]
    return f"array_remove(ARRAY[{', '.join(checks)}]::text[], NULL)"


@dataclass
class StagedBatch:
    """One page turned into COPY text, plus the rows that cannot be staged (no referencia)."""

    text: str = ""
    rows: int = 0
    rejected: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def dumps(row: dict[str, Any]) -> str:
    """The row's JSON as stored (compact, UTF-8). PostgreSQL jsonb cannot hold \\u0000: dropped."""
    text = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
    return text.replace("\\u0000", "") if "\\u0000" in text else text


def stage_batch(rows: Iterable[Any]) -> StagedBatch:
    """COPY lines for the stage (referencia, row_hash, payload); rows without a usable referencia are set
    aside with the reason."""
    lines: list[str] = []
    batch = StagedBatch()
    for row in rows:
        referencia = row.get("referencia") if isinstance(row, dict) else None
        if referencia is None or referencia == "" or isinstance(referencia, (dict, list, bool)):
            batch.rejected.append(("no referencia", row if isinstance(row, dict) else {"value": row}))
            continue
        text = dumps(row)
        digest = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
        lines.append(f"{copy_value(str(referencia))}\t{digest}\t{copy_value(text)}\n")
    batch.text = "".join(lines)
    batch.rows = len(lines)
    return batch
