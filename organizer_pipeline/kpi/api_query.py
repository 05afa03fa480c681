"""Data access for the BI API: one page of one KPI view, filtered and ordered.

The view comes from the registry (an allow-list), identifiers from its definition, and every value a caller
sends is a bound parameter: nothing a request contains ever becomes SQL text.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from organizer_pipeline.kpi.views import BY_NAME, SCHEMA, KpiView

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
FORMATS = ("json", "csv")
PARAMETERS = ("de", "ate", "empreendimento", "limit", "offset", "format")
DAY = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


class ApiRequestError(ValueError):
    """The request names an unknown view or carries a bad parameter; the message says how to fix it."""


class ViewNotBuilt(RuntimeError):
    """The view is known but has not been created yet (its asset never ran)."""


@dataclass(frozen=True)
class PageRequest:
    view: KpiView
    start: date | None = None  # inclusive
    end: date | None = None  # inclusive (a month given as YYYY-MM means its last day)
    empreendimento: int | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    format: str = "json"


@dataclass
class Page:
    columns: list[str]
    rows: list[tuple]
    has_more: bool


def _day(name: str, value: str, month_end: bool) -> date:
    match = DAY.match(value.strip())
    try:
        if not match:
            raise ValueError
        year, month = int(match.group(1)), int(match.group(2))
        if match.group(3):
            return date(year, month, int(match.group(3)))
        return date(year, month, calendar.monthrange(year, month)[1] if month_end else 1)
    except ValueError:
        raise ApiRequestError(
            f"{name} must be a date YYYY-MM-DD or a month YYYY-MM, got {value[:40]!r}"
        ) from None


def _whole(name: str, value: str, low: int, high: int) -> int:
    if not value.strip().isdigit() or not low <= int(value) <= high:
        raise ApiRequestError(f"{name} must be a whole number from {low} to {high}, got {value[:40]!r}")
    return int(value)


def parse_request(view_name: str, params: dict[str, str]) -> PageRequest:
    """Validate the path's view name and the query string; raises ApiRequestError with a clear message."""
    view = BY_NAME.get(view_name)
    if view is None:
        raise ApiRequestError(f"unknown view {view_name[:60]!r}; available: {', '.join(BY_NAME)}")
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise ApiRequestError(f"unknown parameter {unknown[0][:40]!r}; allowed: {', '.join(PARAMETERS)}")
    if ("de" in params or "ate" in params) and view.period_column is None:
        raise ApiRequestError(f"{view_name} has no period column: de/ate cannot filter it")
    if "empreendimento" in params and view.project_column is None:
        raise ApiRequestError(f"{view_name} is not per empreendimento: empreendimento cannot filter it")
    start = _day("de", params["de"], month_end=False) if params.get("de") else None
    end = _day("ate", params["ate"], month_end=True) if params.get("ate") else None
    if start and end and start > end:
        raise ApiRequestError("de must not be after ate")
    project = params.get("empreendimento")
    output = params.get("format", "json")
    if output not in FORMATS:
        raise ApiRequestError(f"format must be one of {', '.join(FORMATS)}, got {output[:20]!r}")
    return PageRequest(
        view=view,
        start=start,
        end=end,
        empreendimento=_whole("empreendimento", project, 0, 2**62) if project else None,
        limit=_whole("limit", params["limit"], 1, MAX_LIMIT) if "limit" in params else DEFAULT_LIMIT,
        offset=_whole("offset", params["offset"], 0, 2**62) if "offset" in params else 0,
        format=output,
    )


def statement(request: PageRequest) -> sa.Select:
    """SELECT * FROM kpi.<view> WHERE <bound filters> ORDER BY <the view's key> LIMIT/OFFSET (bound)."""
    view = request.view
    named = {view.period_column, view.project_column, *view.order_by} - {None}
    table = sa.table(view.name, *(sa.column(name) for name in sorted(named)), schema=SCHEMA)
    query = sa.select(sa.literal_column("*")).select_from(table)
    if request.start is not None:
        query = query.where(table.c[view.period_column] >= request.start)
    if request.end is not None:  # half-open, so a timestamp on the last day is included
        query = query.where(table.c[view.period_column] < request.end + timedelta(days=1))
    if request.empreendimento is not None:
        query = query.where(table.c[view.project_column] == request.empreendimento)
    order = [table.c[name].asc().nulls_last() for name in view.order_by]
    return query.order_by(*order).limit(request.limit + 1).offset(request.offset)


def fetch_page(conn: Connection, request: PageRequest) -> Page:
    exists = conn.execute(sa.text("SELECT to_regclass(:name)"), {"name": request.view.qualified}).scalar()
    if exists is None:
        raise ViewNotBuilt(
            f"{request.view.qualified} has not been built yet: materialize the kpi assets "
            "(dagster asset materialize -m organizer_pipeline.definitions --select 'group:kpi', "
            "or organizer kpi refresh)"
        )
    result = conn.execute(statement(request))
    rows = [tuple(row) for row in result]
    return Page(list(result.keys()), rows[: request.limit], len(rows) > request.limit)
