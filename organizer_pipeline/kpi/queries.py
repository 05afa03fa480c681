"""Read access to the KPI views for the dashboard: small queries over the materialized views, every
filter a bound parameter. Returns plain values (dicts, Decimals, dates) for `kpi.dashboard` to draw."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from organizer_pipeline.kpi.views import VIEWS

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
DASHBOARD_VIEWS = (
    "vendas_mensal",
    "comissoes_mensal",
    "vso_mensal",
    "estoque_unidades",
    "hotmart_receita_diaria",
    "estoque_empreendimento",
    "prosoluto_mensal",
)
# Added later: until their assets first run (after the next CVDW sync, or `organizer kpi refresh`), the page
# shows everything else and a dash for these, instead of "no data yet".
OPTIONAL_VIEWS = ("estoque_empreendimento", "prosoluto_mensal")
TOP_BROKERS = 10


class FilterError(ValueError):
    """A filter value a person typed is not usable; the message says which and why."""


@dataclass(frozen=True)
class Filters:
    """Dashboard filters: whole months `start`..`end` (first days) and one empreendimento."""

    start: date | None = None
    end: date | None = None
    empreendimento: int | None = None

    @property
    def end_day(self) -> date | None:
        """Last calendar day of the `end` month (for daily data)."""
        if self.end is None:
            return None
        return self.end.replace(day=calendar.monthrange(self.end.year, self.end.month)[1])

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "end_day": self.end_day, "emp": self.empreendimento}


def parse_month(name: str, value: str) -> date:
    match = MONTH.match(value.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise FilterError(f"{name} must be a month as YYYY-MM (e.g. 2025-01), got {value[:40]!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def parse_filters(params: dict[str, str]) -> Filters:
    """`de`, `ate` (YYYY-MM) and `empreendimento` (an id) from a query string; empty values mean "all"."""
    unknown = sorted(set(params) - {"de", "ate", "empreendimento"})
    if unknown:
        raise FilterError(f"unknown filter {unknown[0]!r}: use de, ate (YYYY-MM) and empreendimento")
    start = parse_month("de", params["de"]) if params.get("de") else None
    end = parse_month("ate", params["ate"]) if params.get("ate") else None
    if start and end and start > end:
        raise FilterError("de must not be after ate")
    raw = (params.get("empreendimento") or "").strip()
    if raw and not raw.isdigit():
        raise FilterError(f"empreendimento must be a numeric id, got {raw[:40]!r}")
    return Filters(start, end, int(raw) if raw else None)


@dataclass
class DashboardData:
    filters: Filters
    missing_views: list[str] = field(default_factory=list)
    monthly: list[dict] = field(default_factory=list)  # mes, vendas, vgv
    totals: dict[str, Any] = field(default_factory=dict)
    brokers: list[dict] = field(default_factory=list)
    vso: list[dict] = field(default_factory=list)  # per empreendimento over the period
    vso_monthly: list[dict] = field(default_factory=list)  # mes, estoque_fonte, vso, …
    stock: list[dict] = field(default_factory=list)
    sell_out: list[dict] = field(default_factory=list)  # per empreendimento: estoque, meses_para_vender
    prosoluto_monthly: list[dict] = field(default_factory=list)
    hotmart_daily: list[dict] = field(default_factory=list)
    projects: list[dict] = field(default_factory=list)  # for the filter's drop-down

    @property
    def has_data(self) -> bool:
        return bool(self.monthly or self.stock or self.hotmart_daily or self.vso)


def _rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[dict]:
    return [dict(row._mapping) for row in conn.execute(sa.text(sql), params)]


def _absent(conn: Connection, names: list[str]) -> list[str]:
    rows = conn.execute(
        sa.text("SELECT name FROM unnest(:names) AS name WHERE to_regclass(name) IS NULL"), {"names": names}
    )
    return [row[0] for row in rows]


def missing_views(conn: Connection) -> list[str]:
    """The views the page cannot do without that do not exist yet."""
    required = set(DASHBOARD_VIEWS) - set(OPTIONAL_VIEWS)
    return _absent(conn, [view.qualified for view in VIEWS if view.name in required])


# Every filter is a bound parameter; NULL means "no filter".
MONTHLY_SQL = """
    SELECT mes, vendas, vgv FROM kpi.vendas_mensal
    WHERE (CAST(:start AS date) IS NULL OR mes >= :start)
      AND (CAST(:end AS date) IS NULL OR mes <= :end)
      AND CASE WHEN CAST(:emp AS bigint) IS NULL THEN total ELSE NOT total AND idempreendimento = :emp END
    ORDER BY mes
"""
BROKERS_SQL = """
    SELECT corretor, sum(comissao_total) AS comissao_total, sum(vendas) AS vendas
    FROM kpi.comissoes_mensal WHERE (CAST(:start AS date) IS NULL OR mes >= :start)
      AND (CAST(:end AS date) IS NULL OR mes <= :end)
      AND (CAST(:emp AS bigint) IS NULL OR idempreendimento = :emp)
    GROUP BY corretor ORDER BY comissao_total DESC, corretor LIMIT :limit
"""
COMMISSIONS_SQL = """
    SELECT coalesce(sum(comissao_total), 0) FROM kpi.comissoes_mensal
    WHERE (CAST(:start AS date) IS NULL OR mes >= :start)
      AND (CAST(:end AS date) IS NULL OR mes <= :end)
      AND (CAST(:emp AS bigint) IS NULL OR idempreendimento = :emp)
"""
# VSO over a period, per empreendimento: only months with unit snapshots count; the offer is the stock at the
# start of the project's first such month plus every launch in the period.
VSO_SQL = """
    WITH months AS (
        SELECT *, min(mes) OVER (PARTITION BY idempreendimento) AS first_mes
        FROM kpi.vso_mensal WHERE NOT total AND estoque_inicial IS NOT NULL
          AND (CAST(:start AS date) IS NULL OR mes >= :start)
          AND (CAST(:end AS date) IS NULL OR mes <= :end)
          AND (CAST(:emp AS bigint) IS NULL OR idempreendimento = :emp)
    )
    SELECT idempreendimento, max(empreendimento) AS empreendimento, sum(vendidas) AS vendidas,
           sum(distratos) AS distratos, sum(lancadas) AS lancadas,
           sum(estoque_inicial) FILTER (WHERE mes = first_mes) AS estoque_inicial
    FROM months GROUP BY idempreendimento ORDER BY max(empreendimento)
"""
# Months of a monthly view with total rows: the total rows, or one empreendimento's rows.
MONTHS_OF_TOTAL_OR_PROJECT = """
    WHERE (CAST(:start AS date) IS NULL OR mes >= :start)
      AND (CAST(:end AS date) IS NULL OR mes <= :end)
      AND CASE WHEN CAST(:emp AS bigint) IS NULL THEN total ELSE NOT total AND idempreendimento = :emp END
    GROUP BY mes ORDER BY mes
"""
# The month's VSO for all empreendimentos or one; estoque_fonte tells a reconstructed month.
VSO_MONTHLY_SQL = (
    """
    SELECT mes, max(estoque_fonte) AS estoque_fonte, sum(vendidas) AS vendidas, sum(distratos) AS distratos,
           sum(estoque_inicial) AS estoque_inicial, sum(lancadas) AS lancadas
    FROM kpi.vso_mensal"""  # noqa: S608 - constant fragments
    + MONTHS_OF_TOTAL_OR_PROJECT
)
PROSOLUTO_SQL = (
    """
    SELECT mes, sum(vgv_com_condicoes) AS vgv_com_condicoes, sum(valor_prosoluto) AS valor_prosoluto,
           sum(valor_financiado) AS valor_financiado
    FROM kpi.prosoluto_mensal"""  # noqa: S608 - constant fragments
    + MONTHS_OF_TOTAL_OR_PROJECT
)
SELL_OUT_SQL = """
    SELECT idempreendimento, empreendimento, estoque, vendas_liquidas_3m, meses_para_vender
    FROM kpi.estoque_empreendimento WHERE (CAST(:emp AS bigint) IS NULL OR idempreendimento = :emp)
    ORDER BY empreendimento, idempreendimento
"""
STOCK_SQL = """
    SELECT situacao_codigo, situacao, sum(unidades) AS unidades, sum(valor_total) AS valor_total
    FROM kpi.estoque_unidades WHERE (CAST(:emp AS bigint) IS NULL OR idempreendimento = :emp)
    GROUP BY situacao_codigo, situacao ORDER BY situacao_codigo
"""
HOTMART_SQL = """
    SELECT dia, sum(vendas) AS vendas, sum(receita_bruta) AS receita_bruta,
           sum(receita_liquida_produtor) AS receita_liquida_produtor, sum(reembolsos) AS reembolsos
    FROM kpi.hotmart_receita_diaria
    WHERE moeda = 'BRL' AND (CAST(:start AS date) IS NULL OR dia >= :start)
      AND (CAST(:end_day AS date) IS NULL OR dia <= :end_day)
    GROUP BY dia ORDER BY dia
"""
PROJECTS_SQL = """
    SELECT idempreendimento, max(empreendimento) AS empreendimento FROM (
        SELECT idempreendimento, empreendimento FROM kpi.vendas_mensal WHERE NOT total
        UNION ALL SELECT idempreendimento, empreendimento FROM kpi.estoque_unidades
    ) AS p WHERE idempreendimento IS NOT NULL GROUP BY idempreendimento ORDER BY 2
"""


def ratio(
    numerator: Decimal | int | None, denominator: Decimal | int | None, places: int = 4
) -> Decimal | None:
    if not denominator or numerator is None:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1).scaleb(-places))


def vso_value(row: dict) -> Decimal | None:
    offer = (row.get("estoque_inicial") or 0) + (row.get("lancadas") or 0)
    return ratio((row.get("vendidas") or 0) - (row.get("distratos") or 0), offer)


def months_to_sell_out(rows: list[dict]) -> Decimal | None:
    """Stock ÷ mean monthly net sales of the last 3 months, over the given empreendimentos together: 0 when
    nothing is left, None when nothing sold net (the stock would never run out) or there is no row."""
    if not rows:
        return None
    stock = sum(row["estoque"] for row in rows)
    net = sum(row["vendas_liquidas_3m"] for row in rows)
    if stock == 0:
        return Decimal("0.0")
    return ratio(stock * 3, net, 1) if net > 0 else None


def load(conn: Connection, filters: Filters) -> DashboardData:
    """Everything the dashboard shows for these filters (empty lists when the views hold nothing)."""
    data = DashboardData(filters, missing_views=missing_views(conn))
    if data.missing_views:
        return data
    params = filters.params()
    data.monthly = _rows(conn, MONTHLY_SQL, params)
    data.brokers = _rows(conn, BROKERS_SQL, {**params, "limit": TOP_BROKERS})
    data.vso = _rows(conn, VSO_SQL, params)
    for row in data.vso:
        row["vso"] = vso_value(row)
    data.vso_monthly = _rows(conn, VSO_MONTHLY_SQL, params)
    for row in data.vso_monthly:
        row["vso"] = vso_value(row)
    data.stock = _rows(conn, STOCK_SQL, params)
    absent = _absent(conn, [f"kpi.{name}" for name in OPTIONAL_VIEWS])
    if "kpi.estoque_empreendimento" not in absent:
        data.sell_out = _rows(conn, SELL_OUT_SQL, params)
    if "kpi.prosoluto_mensal" not in absent:
        data.prosoluto_monthly = _rows(conn, PROSOLUTO_SQL, params)
    data.hotmart_daily = _rows(conn, HOTMART_SQL, params)
    data.projects = _rows(conn, PROJECTS_SQL, {})
    sales = sum(row["vendas"] for row in data.monthly)
    vgv = sum((row["vgv"] for row in data.monthly), Decimal(0))
    hotmart_sales = sum(row["vendas"] for row in data.hotmart_daily)
    prosoluto = sum((row["valor_prosoluto"] for row in data.prosoluto_monthly), Decimal(0))
    data.totals = {
        "vendas": sales,
        "vgv": vgv,
        "ticket_medio": ratio(vgv, sales, 2),
        "comissoes": conn.execute(sa.text(COMMISSIONS_SQL), params).scalar_one(),
        "vso": vso_value(
            {
                key: sum(row[key] or 0 for row in data.vso)
                for key in ("vendidas", "distratos", "estoque_inicial", "lancadas")
            }
        ),
        "hotmart_receita": sum((row["receita_bruta"] for row in data.hotmart_daily), Decimal(0)),
        "hotmart_taxa_reembolso": ratio(sum(row["reembolsos"] for row in data.hotmart_daily), hotmart_sales),
        "prosoluto": prosoluto if data.prosoluto_monthly else None,
        "percentual_prosoluto": ratio(prosoluto, sum(r["vgv_com_condicoes"] for r in data.prosoluto_monthly)),
        "meses_para_vender": months_to_sell_out(data.sell_out),
    }
    return data
