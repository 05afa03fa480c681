"""From API rows to stored rows, in one pass over each decoded page.

Each row becomes one COPY line of the stage: referencia, referencia_data, ativo, the row's JSON, then the
typed core columns of the endpoint table (the content hash is computed by the server, see GENERATED).
Typing follows the contract's quirks: zero dates (`0000-00-00 …`) and empty strings are "no value", numbers
arrive as JSON numbers or numeric strings, `/unidades` dates are DD/MM/YYYY. A value that does not convert is stored as NULL in core and the row is
quarantined with the column names (raw keeps it whole). Unknown fields are simply not typed: they stay in raw.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from organizer_pipeline.cvdw.endpoints import Endpoint
from organizer_pipeline.db.bulk import copy_value
from organizer_pipeline.resources import jsoncodec

RAW_STAGE = [
    ("referencia", "text"),
    ("referencia_data", "timestamp"),
    ("ativo", "text"),
    ("payload", "jsonb"),
]
# The content hash is computed by PostgreSQL while the COPY streams: jsonb's text form is canonical (key order
# and spacing do not matter), and hashing in Python would cost more than the whole typed mapping.
GENERATED = {"row_hash": ("text", "md5(payload::text)")}
RAW_COLUMNS = [*(name for name, _ in RAW_STAGE), "row_hash"]
NULL = "\\N"
_BR_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})")
BIGINT_MAX = 2**63 - 1


class Invalid(ValueError):
    """The value is present but is not of the column's type."""


def _blank(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, str) and value.startswith("0000-00-00"))


def to_text(value: Any) -> str:
    if isinstance(value, str):
        return copy_value(value)
    if isinstance(value, (dict, list)):
        return copy_value(jsoncodec.dumps(value))
    return str(value)


def to_integer(value: Any) -> str:
    if isinstance(value, bool):
        raise Invalid(value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value)
    else:
        raise Invalid(value)
    if abs(number) > BIGINT_MAX:
        raise Invalid(value)
    return str(number)


def to_numeric(value: Any) -> str:
    if isinstance(value, bool):
        raise Invalid(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise Invalid(value)
        return repr(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").replace(".", "", 1).isdigit():
            return text
    raise Invalid(value)


def to_timestamp(value: Any) -> str:
    if isinstance(value, str):
        if value.startswith("0000-00-00"):
            return NULL  # CV's "no date"
        text = value.strip()
        match = _BR_DATE.match(text)
        if match:
            text = f"{match[3]}-{match[2]}-{match[1]}"
        try:
            datetime.fromisoformat(text)  # validates (e.g. no 2024-02-31); PostgreSQL parses the text itself
        except ValueError:
            raise Invalid(value) from None
        return text
    raise Invalid(value)


def to_date(value: Any) -> str:
    text = to_timestamp(value)
    return text if text == NULL else text[:10]


CONVERTERS: dict[str, Callable[[Any], str]] = {
    "text": to_text,
    "bigint": to_integer,
    "integer": to_integer,
    "numeric": to_numeric,
    "timestamp": to_timestamp,
    "date": to_date,
}


def core_columns(endpoint: Endpoint) -> list[str]:
    return ["referencia", "referencia_data", "ativo", *(c.name for c in endpoint.columns), "row_hash"]


def stage_columns(endpoint: Endpoint) -> list[tuple[str, str]]:
    """One stage feeds both merges: the raw columns, then the typed ones."""
    return [*RAW_STAGE, *((c.name, c.type) for c in endpoint.columns)]


@dataclass
class StagedPage:
    """One page as COPY text for the stage, plus what had to be set aside."""

    text: str = ""
    rows: int = 0
    quarantined: list[tuple[str | None, str, dict[str, Any]]] = field(default_factory=list)


def dumps(row: dict[str, Any]) -> str:
    """The row's JSON as stored (compact, UTF-8). PostgreSQL jsonb cannot hold \\u0000: dropped."""
    text = jsoncodec.dumps(row)
    return text.replace("\\u0000", "") if "\\u0000" in text else text


class PageStager:
    """Turns decoded rows of one endpoint into stage lines (compiled once from the endpoint table)."""

    def __init__(self, endpoint: Endpoint):
        self.fields = [(c.name, c.source, CONVERTERS[c.type]) for c in endpoint.columns]

    def stage(self, rows: Iterable[Any]) -> StagedPage:
        lines: list[str] = []
        page = StagedPage()
        for row in rows:
            referencia = row.get("referencia") if isinstance(row, dict) else None
            if _blank(referencia) or isinstance(referencia, (dict, list, bool)):
                kept = row if isinstance(row, dict) else {"value": row}
                page.quarantined.append((None, "no referencia", kept))
                continue
            referencia = copy_value(str(referencia))
            bad: list[str] = []
            try:
                moment = row.get("referencia_data")
                moment = NULL if moment is None or moment == "" else to_timestamp(moment)
            except Invalid:
                moment, bad = NULL, ["referencia_data"]
            ativo = row.get("ativo")
            ativo = NULL if ativo is None else to_text(ativo)
            values = [referencia, moment, ativo, copy_value(dumps(row))]
            get = row.get
            for name, source, converter in self.fields:
                value = get(source)
                if value is None or value == "":
                    values.append(NULL)
                    continue
                try:
                    values.append(converter(value))
                except Invalid:
                    values.append(NULL)
                    bad.append(name)
            lines.append("\t".join(values) + "\n")
            if bad:
                page.quarantined.append(
                    (row["referencia"], f"values that do not convert: {', '.join(bad)}", row)
                )
        page.text, page.rows = "".join(lines), len(lines)
        return page
