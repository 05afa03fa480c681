"""Personal data in MCP answers: masked unless the server runs with ORGANIZER_MCP_PII=1.

An assistant's transcript is stored by its vendor and shown to whoever reads it, so by default a buyer's
name, e-mail, phone and document never leave in an answer. Brokers (`corretor`) and companies are business
roles, not buyers: a ranking of brokers is what `top_corretores` is for, so their names stay.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from organizer_pipeline import settings
from organizer_pipeline.privacy import EMAIL_RE, mask_digits, mask_email, redact

# Columns that hold a buyer's identity wherever they appear (plus each KPI view's own `personal_columns`).
PERSONAL_COLUMNS = frozenset(
    {
        "cliente",
        "idcliente",
        "email",
        "buyer_email",
        "name",
        "nome_cliente",
        "first_name",
        "last_name",
        "phone",
        "telefone",
        "document",
        "documento",
        "cpf",
        "cnpj",
    }
)


def show_pii() -> bool:
    return settings.env("ORGANIZER_MCP_PII") == "1"


def mask_value(value: Any) -> Any:
    """A personal value, masked: e-mail `j***@g***.com`, digits `*******09`, a name `A*** S***`."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return "***"
    text = str(value).strip()
    if EMAIL_RE.search(text):
        return mask_email(text)
    if sum(ch.isdigit() for ch in text) >= max(len(text) // 2, 1):
        return mask_digits(text)
    return " ".join(f"{word[0]}***" for word in text.split()) or text


def mask_row(row: dict[str, Any], personal: Iterable[str] = ()) -> dict[str, Any]:
    """Personal columns masked, and e-mails/documents/phones masked inside any other text."""
    if show_pii():
        return row
    columns = PERSONAL_COLUMNS | set(personal)
    return {
        key: mask_value(value) if key in columns else redact(value) if isinstance(value, str) else value
        for key, value in row.items()
    }


def mask_text(text: str | None) -> str | None:
    return text if text is None or show_pii() else redact(text)
