"""What `period` means in the MCP tools: whole calendar months, because the KPI views the dashboard reads
(vendas_mensal, comissoes_mensal, vso_mensal) are monthly, so a tool's number equals the dashboard's.

Accepted forms (case-insensitive):
- `2025-10`                one month
- `2025-Q4`                a quarter (Q1..Q4)
- `2025`                   a year
- `2025-01..2025-06`       an inclusive range of months
- `mes_atual`, `mes_anterior`, `trimestre_atual`, `trimestre_anterior`, `ano_atual`, `ano_anterior`,
  `ultimos_12_meses`       relative to today in America/Sao_Paulo (an assistant often does not know the date)

The previous period (for comparisons) is the same number of months immediately before.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

TIMEZONE = ZoneInfo("America/Sao_Paulo")
FORMS = (
    "YYYY-MM (um mês), YYYY-Qn (trimestre, n=1..4), YYYY (ano), YYYY-MM..YYYY-MM (intervalo inclusivo de "
    "meses) ou mes_atual, mes_anterior, trimestre_atual, trimestre_anterior, ano_atual, ano_anterior, "
    "ultimos_12_meses (relativos a hoje, America/Sao_Paulo)"
)
MAX_MONTHS = 120
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
QUARTER = re.compile(r"^(\d{4})-?q([1-4])$")
YEAR = re.compile(r"^(\d{4})$")


class PeriodError(ValueError):
    """The period text is not one of the accepted forms; the message lists them."""


def shift(month: date, months: int) -> date:
    """The first day of the month `months` after (or before, if negative) `month`."""
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    start: date  # first day of the first month
    end: date  # first day of the last month

    @property
    def months(self) -> int:
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1

    @property
    def last_day(self) -> date:
        return self.end.replace(day=calendar.monthrange(self.end.year, self.end.month)[1])

    def previous(self) -> Period:
        return Period(shift(self.start, -self.months), shift(self.start, -1))

    def as_dict(self) -> dict[str, str]:
        return {"de": self.start.isoformat(), "ate": self.last_day.isoformat()}


def _month(text: str, original: str) -> date:
    match = MONTH.match(text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise PeriodError(f"período inválido {original[:40]!r}: use {FORMS}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def parse(text: str, today: date | None = None) -> Period:
    original = text
    text = text.strip().lower()
    today = today or datetime.now(TIMEZONE).date()
    this_month = today.replace(day=1)
    this_quarter = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    relative = {
        "mes_atual": Period(this_month, this_month),
        "mes_anterior": Period(shift(this_month, -1), shift(this_month, -1)),
        "trimestre_atual": Period(this_quarter, shift(this_quarter, 2)),
        "trimestre_anterior": Period(shift(this_quarter, -3), shift(this_quarter, -1)),
        "ano_atual": Period(date(today.year, 1, 1), date(today.year, 12, 1)),
        "ano_anterior": Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 1)),
        "ultimos_12_meses": Period(shift(this_month, -11), this_month),
    }
    if text in relative:
        return relative[text]
    if match := QUARTER.match(text):
        start = date(int(match.group(1)), (int(match.group(2)) - 1) * 3 + 1, 1)
        return Period(start, shift(start, 2))
    if match := YEAR.match(text):
        return Period(date(int(match.group(1)), 1, 1), date(int(match.group(1)), 12, 1))
    if ".." in text:
        first, _, last = text.partition("..")
        period = Period(_month(first.strip(), original), _month(last.strip(), original))
        if period.start > period.end:
            raise PeriodError(f"período inválido {original[:40]!r}: o início vem depois do fim; use {FORMS}")
        if period.months > MAX_MONTHS:
            raise PeriodError(f"período de {period.months} meses: o máximo é {MAX_MONTHS}")
        return period
    month = _month(text, original)
    return Period(month, month)
