"""Number formats: Brazilian for people (R$ 1.234,56, 1.234 and 37,5%), plain JSON values for machines."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal


def _group(digits: str) -> str:
    """1234567 -> 1.234.567"""
    parts = []
    while len(digits) > 3:
        parts.insert(0, digits[-3:])
        digits = digits[:-3]
    parts.insert(0, digits)
    return ".".join(parts)


def number(value: Decimal | float | int | None, places: int = 0) -> str:
    if value is None:
        return "–"
    quantum = Decimal(1).scaleb(-places)
    rounded = Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    whole, _, fraction = f"{abs(rounded):.{places}f}".partition(".")
    return f"{sign}{_group(whole)}" + (f",{fraction}" if places else "")


def brl(value: Decimal | float | int | None) -> str:
    """R$ 1.234,56"""
    return "–" if value is None else f"R$ {number(value, 2)}"


def percent(value: Decimal | float | None, places: int = 1) -> str:
    """0.375 -> 37,5%"""
    return "–" if value is None else f"{number(Decimal(str(value)) * 100, places)}%"


def jsonable(value: object) -> object:
    """Decimal -> float (JSON number), date/datetime -> ISO-8601; anything else unchanged."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
