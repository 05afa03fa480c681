"""What each MCP tool answers, as plain functions over a read-only connection (server.py wires them to the
protocol). Every SQL text here is a constant or comes from the KPI registry/dashboard queries; tool input
only ever reaches the database as a bound parameter.

The sales tools reuse the dashboard's own queries (`kpi.queries`), so an assistant's number is the number on
the dashboard for the same months and empreendimento.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection, Engine

from organizer_pipeline.hotmart import state
from organizer_pipeline.kpi import api_query, queries
from organizer_pipeline.kpi.formatting import jsonable
from organizer_pipeline.kpi.views import BY_NAME, VIEWS
from organizer_pipeline.mcp import periods, pii
from organizer_pipeline.mcp.readonly import ROW_CAP, ReadOnlyDb
from organizer_pipeline.ops import health

RESOURCE_PREFIX = "kpi://views/"


class ToolFailure(ValueError):
    """A tool cannot answer these arguments; the message says why and what to send instead."""


# --- answers -----------------------------------------------------------------------------------------------


class Column(BaseModel):
    name: str
    type: str


class ViewInfo(BaseModel):
    name: str
    description: str
    materialized: bool
    built: bool
    period_column: str | None
    empreendimento_filter: bool
    order_by: list[str]
    columns: list[Column] | None
    resource: str


class KpiViews(BaseModel):
    views: list[ViewInfo]
    filters: dict[str, str]


class KpiPage(BaseModel):
    view: str
    columns: list[str]
    count: int
    next_offset: int | None
    data: list[dict[str, Any]]


class PeriodRange(BaseModel):
    de: str
    ate: str


class Project(BaseModel):
    id: int
    nome: str | None


class MonthSales(BaseModel):
    mes: str
    vendas: int
    vgv: float


class SalesFigures(BaseModel):
    periodo: PeriodRange
    vendas: int
    vgv: float
    ticket_medio: float | None


class Variation(BaseModel):
    """Relative change versus the previous period: 0.25 = +25 %; null when the previous value is 0."""

    vendas: float | None
    vgv: float | None
    ticket_medio: float | None


class SalesSummary(BaseModel):
    periodo: PeriodRange
    empreendimento: Project | None
    vendas: int
    vgv: float
    ticket_medio: float | None
    por_mes: list[MonthSales]
    anterior: SalesFigures
    variacao: Variation


class Broker(BaseModel):
    ranking: int
    corretor: str | None
    comissao_total: float
    vendas: int


class TopBrokers(BaseModel):
    periodo: PeriodRange
    corretores: list[Broker]


class VsoAnswer(BaseModel):
    empreendimento: Project | None
    periodo: PeriodRange | None
    vso: float | None
    vendidas: int
    distratos: int
    estoque_inicial: int | None
    lancadas: int | None
    meses: list[dict[str, Any]]


class RevenueLine(BaseModel):
    moeda: str | None
    product_id: int | None = None
    produto: str | None = None
    vendas: int
    receita_bruta: float
    receita_liquida_produtor: float
    reembolsos: int
    valor_reembolsado: float
    taxa_reembolso: float | None


class Product(BaseModel):
    id: int
    nome: str | None


class HotmartRevenue(BaseModel):
    periodo: PeriodRange
    produto: Product | None
    moedas: list[RevenueLine]
    por_produto: list[RevenueLine]


class HistoryStep(BaseModel):
    event_id: str | None
    event: str | None
    status: str | None
    at: str | None
    applied: bool | None
    previous_status: str | None
    raw_status: str | None = None


class HotmartSale(BaseModel):
    transaction: str
    status: str
    estado_final: bool
    proximos_status_possiveis: list[str]
    product_id: int | None
    product_name: str | None
    price: float | None
    currency: str | None
    payment_type: str | None
    installments: int | None
    comprador: str | None
    order_date: str | None
    approved_at: str | None
    historico: list[HistoryStep]


class Profile(BaseModel):
    email: str | None
    segment: str | None
    purchase_intent: str | None
    churn_risk: str | None
    summary: str | None
    distance: float


class ProfileSearch(BaseModel):
    perfis: list[Profile]


class Health(BaseModel):
    ok: bool
    db_health: dict[str, Any] | None
    inbox_backlog: dict[str, Any]
    cvdw_freshness: dict[str, Any]


# The list in each answer whose length is the "row count" written to the audit line.
ROW_FIELDS: dict[str, str] = {
    "kpi_views": "views",
    "kpi_query": "data",
    "vendas_resumo": "por_mes",
    "top_corretores": "corretores",
    "vso": "meses",
    "hotmart_receita": "por_produto",
    "hotmart_venda": "historico",
    "perfis_buscar": "perfis",
}


# --- helpers -----------------------------------------------------------------------------------------------


def _number(value: Decimal | int | float | None) -> float | None:
    return None if value is None else float(value)


def _require_views(conn: Connection, *names: str) -> None:
    qualified = [BY_NAME[name].qualified for name in names]
    missing = (
        conn.execute(
            sa.text(
                "SELECT name FROM unnest(CAST(:names AS text[])) AS name WHERE to_regclass(name) IS NULL"
            ),
            {"names": qualified},
        )
        .scalars()
        .all()
    )
    if missing:
        raise ToolFailure(
            f"{', '.join(missing)} ainda não foi criada: materialize os assets do grupo kpi "
            "(organizer kpi refresh, ou group:kpi no Dagster) e tente de novo"
        )


def _period(text: str) -> periods.Period:
    try:
        return periods.parse(text)
    except periods.PeriodError as error:
        raise ToolFailure(str(error)) from None


def _range(period: periods.Period) -> PeriodRange:
    return PeriodRange(**period.as_dict())


def _fold(text: str) -> str:
    """Case- and accent-insensitive form used to match a name exactly (never a substring)."""
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).split())


def _pick(kind: str, value: int | str, options: list[tuple[int, str | None]]) -> tuple[int, str | None]:
    """The one option whose id equals `value`, or whose name equals it ignoring case and accents."""
    if isinstance(value, int) or str(value).strip().isdigit():
        wanted = int(value)
        found = [option for option in options if option[0] == wanted]
    else:
        wanted_name = _fold(str(value))
        found = [option for option in options if option[1] and _fold(option[1]) == wanted_name]
    if len(found) == 1:
        return found[0]
    listed = "; ".join(f"{i} = {name}" for i, name in options[:40]) or "nenhum ainda"
    problem = "é ambíguo" if found else "não encontrado"
    raise ToolFailure(
        f"{kind} {str(value)[:60]!r} {problem}: use o id ou o nome exato. Disponíveis: {listed}"
    )


def resolve_project(conn: Connection, value: int | str | None) -> Project | None:
    if value is None or value == "":
        return None
    options = [(row[0], row[1]) for row in conn.execute(sa.text(queries.PROJECTS_SQL))]
    project_id, name = _pick("empreendimento", value, options)
    return Project(id=project_id, nome=name)


# --- tools -------------------------------------------------------------------------------------------------


def kpi_views(conn: Connection) -> KpiViews:
    built = {
        row.name: row.columns
        for row in conn.execute(
            sa.text(
                """
                SELECT v.name, (
                    SELECT json_agg(json_build_object('name', a.attname,
                                                      'type', format_type(a.atttypid, a.atttypmod))
                                    ORDER BY a.attnum)
                    FROM pg_attribute a
                    WHERE a.attrelid = to_regclass(v.qualified) AND a.attnum > 0 AND NOT a.attisdropped
                ) AS columns
                FROM unnest(CAST(:names AS text[]), CAST(:qualified AS text[])) AS v(name, qualified)
                WHERE to_regclass(v.qualified) IS NOT NULL
                """
            ),
            {"names": [view.name for view in VIEWS], "qualified": [view.qualified for view in VIEWS]},
        )
    }
    return KpiViews(
        views=[
            ViewInfo(
                name=view.name,
                description=view.description,
                materialized=view.materialized,
                built=view.name in built,
                period_column=view.period_column,
                empreendimento_filter=view.project_column is not None,
                order_by=list(view.order_by),
                columns=[Column(**column) for column in built[view.name] or []]
                if view.name in built
                else None,
                resource=f"{RESOURCE_PREFIX}{view.name}",
            )
            for view in VIEWS
        ],
        filters={
            "de": "primeiro dia, YYYY-MM-DD ou YYYY-MM (views com coluna de período)",
            "ate": "último dia, YYYY-MM-DD ou YYYY-MM (um mês = seu último dia)",
            "empreendimento": "idempreendimento (views por empreendimento)",
            "limit": f"linhas por página, 1..{ROW_CAP}",
            "offset": "linhas a pular; siga next_offset",
        },
    )


def kpi_query(
    conn: Connection,
    view: str,
    de: str | None = None,
    ate: str | None = None,
    empreendimento: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> KpiPage:
    """One page of a KPI view through the BI API's own parser and query (kpi/api_query.py)."""
    given = {"de": de, "ate": ate, "empreendimento": empreendimento, "limit": limit, "offset": offset}
    params = {key: str(value) for key, value in given.items() if value is not None and value != ""}
    try:
        request = api_query.parse_request(view, params)
        page = api_query.fetch_page(conn, request)
    except (api_query.ApiRequestError, api_query.ViewNotBuilt) as error:
        raise ToolFailure(str(error)) from None
    personal = request.view.personal_columns
    rows = [
        pii.mask_row(
            {column: jsonable(value) for column, value in zip(page.columns, row, strict=True)}, personal
        )
        for row in page.rows
    ]
    return KpiPage(
        view=request.view.qualified,
        columns=page.columns,
        count=len(rows),
        next_offset=request.offset + request.limit if page.has_more else None,
        data=rows,
    )


def _sales(conn: Connection, period: periods.Period, project: Project | None) -> list[dict[str, Any]]:
    filters = queries.Filters(period.start, period.end, project.id if project else None)
    return [dict(row._mapping) for row in conn.execute(sa.text(queries.MONTHLY_SQL), filters.params())]


def _figures(rows: list[dict[str, Any]]) -> tuple[int, Decimal, Decimal | None]:
    sales = sum(row["vendas"] for row in rows)
    vgv = sum((row["vgv"] for row in rows), Decimal(0))
    return sales, vgv, queries.ratio(vgv, sales, 2)


def _change(now: Decimal | int | None, before: Decimal | int | None) -> float | None:
    if now is None or before is None:
        return None
    return _number(queries.ratio(Decimal(now) - Decimal(before), before, 4))


def vendas_resumo(conn: Connection, period: str, empreendimento: int | str | None = None) -> SalesSummary:
    _require_views(conn, "vendas_mensal")
    current = _period(period)
    project = resolve_project(conn, empreendimento)
    rows = _sales(conn, current, project)
    sales, vgv, ticket = _figures(rows)
    before = current.previous()
    sales_before, vgv_before, ticket_before = _figures(_sales(conn, before, project))
    return SalesSummary(
        periodo=_range(current),
        empreendimento=project,
        vendas=sales,
        vgv=float(vgv),
        ticket_medio=_number(ticket),
        por_mes=[
            MonthSales(mes=row["mes"].isoformat(), vendas=row["vendas"], vgv=float(row["vgv"]))
            for row in rows
        ],
        anterior=SalesFigures(
            periodo=_range(before),
            vendas=sales_before,
            vgv=float(vgv_before),
            ticket_medio=_number(ticket_before),
        ),
        variacao=Variation(
            vendas=_change(sales, sales_before),
            vgv=_change(vgv, vgv_before),
            ticket_medio=_change(ticket, ticket_before),
        ),
    )


def top_corretores(conn: Connection, period: str, n: int = 5) -> TopBrokers:
    _require_views(conn, "comissoes_mensal")
    current = _period(period)
    filters = queries.Filters(current.start, current.end, None)
    rows = conn.execute(sa.text(queries.BROKERS_SQL), {**filters.params(), "limit": n}).all()
    brokers: list[Broker] = []
    for position, row in enumerate(rows, start=1):
        tied = brokers and brokers[-1].comissao_total == float(row.comissao_total)
        ranking = brokers[-1].ranking if tied else position  # rank(): ties share a place
        brokers.append(
            Broker(
                ranking=ranking,
                corretor=row.corretor,
                comissao_total=float(row.comissao_total),
                vendas=row.vendas,
            )
        )
    return TopBrokers(periodo=_range(current), corretores=brokers)


VSO_MONTHS = sa.text(
    """
    SELECT * FROM kpi.vso_mensal
    WHERE mes BETWEEN :start AND :end
      AND CASE WHEN CAST(:emp AS bigint) IS NULL THEN total ELSE NOT total AND idempreendimento = :emp END
    ORDER BY mes
    """
)


def vso(conn: Connection, empreendimento: int | str | None = None, months: int = 12) -> VsoAnswer:
    """The monthly VSO series of the last `months` months with data, and the VSO over that window computed
    as the dashboard does (Σ(vendidas − distratos) / (stock at the start + Σ launches))."""
    _require_views(conn, "vso_mensal")
    project = resolve_project(conn, empreendimento)
    latest = conn.execute(sa.text("SELECT max(mes) FROM kpi.vso_mensal")).scalar()
    if latest is None:
        return VsoAnswer(
            empreendimento=project,
            periodo=None,
            vso=None,
            vendidas=0,
            distratos=0,
            estoque_inicial=None,
            lancadas=None,
            meses=[],
        )
    window = periods.Period(periods.shift(latest, 1 - months), latest)
    filters = queries.Filters(window.start, window.end, project.id if project else None)
    series = [
        {key: jsonable(value) for key, value in row._mapping.items()}
        for row in conn.execute(VSO_MONTHS, filters.params())
    ]
    per_project = [dict(row._mapping) for row in conn.execute(sa.text(queries.VSO_SQL), filters.params())]
    totals = {
        key: sum(row[key] or 0 for row in per_project)
        for key in ("vendidas", "distratos", "estoque_inicial", "lancadas")
    }
    known_offer = any(row["estoque_inicial"] is not None for row in per_project)
    return VsoAnswer(
        empreendimento=project,
        periodo=_range(window),
        vso=_number(queries.vso_value(totals)) if known_offer else None,
        vendidas=sum(row.get("vendidas") or 0 for row in series),
        distratos=sum(row.get("distratos") or 0 for row in series),
        estoque_inicial=int(totals["estoque_inicial"]) if known_offer else None,
        lancadas=int(totals["lancadas"]) if known_offer else None,
        meses=series,
    )


HOTMART_REVENUE = sa.text(
    """
    SELECT moeda, product_id, max(produto) AS produto, sum(vendas) AS vendas,
           sum(receita_bruta) AS receita_bruta, sum(receita_liquida_produtor) AS receita_liquida_produtor,
           sum(reembolsos) AS reembolsos, sum(valor_reembolsado) AS valor_reembolsado
    FROM kpi.hotmart_receita_diaria
    WHERE dia BETWEEN :start AND :end_day AND (CAST(:product AS bigint) IS NULL OR product_id = :product)
    GROUP BY moeda, product_id
    ORDER BY moeda, sum(receita_bruta) DESC, product_id
    LIMIT :cap
    """
)
HOTMART_PRODUCTS = sa.text(
    "SELECT product_id, max(produto) FROM kpi.hotmart_receita_diaria GROUP BY product_id ORDER BY 2, 1"
)
REVENUE_SUMS = ("vendas", "receita_bruta", "receita_liquida_produtor", "reembolsos", "valor_reembolsado")


def _revenue_line(row: dict[str, Any]) -> RevenueLine:
    return RevenueLine(
        moeda=row["moeda"],
        product_id=row.get("product_id"),
        produto=row.get("produto"),
        vendas=int(row["vendas"]),
        receita_bruta=float(row["receita_bruta"]),
        receita_liquida_produtor=float(row["receita_liquida_produtor"]),
        reembolsos=int(row["reembolsos"]),
        valor_reembolsado=float(row["valor_reembolsado"]),
        taxa_reembolso=_number(queries.ratio(row["reembolsos"], row["vendas"], 4)),
    )


def hotmart_receita(conn: Connection, period: str, produto: int | str | None = None) -> HotmartRevenue:
    """Revenue, refunds and refund rate per currency (never summed across currencies), and per product."""
    _require_views(conn, "hotmart_receita_diaria")
    current = _period(period)
    product = None
    if produto is not None and produto != "":
        options = [(row[0], row[1]) for row in conn.execute(HOTMART_PRODUCTS) if row[0] is not None]
        product = Product(**dict(zip(("id", "nome"), _pick("produto", produto, options), strict=True)))
    rows = [
        dict(row._mapping)
        for row in conn.execute(
            HOTMART_REVENUE,
            {
                "start": current.start,
                "end_day": current.last_day,
                "product": product.id if product else None,
                "cap": ROW_CAP,
            },
        )
    ]
    by_currency: dict[str, dict[str, Any]] = {}
    for row in rows:
        total = by_currency.setdefault(
            row["moeda"], {"moeda": row["moeda"], **dict.fromkeys(REVENUE_SUMS, 0)}
        )
        for key in REVENUE_SUMS:
            total[key] += row[key]
    return HotmartRevenue(
        periodo=_range(current),
        produto=product,
        moedas=[_revenue_line(total) for total in by_currency.values()],
        por_produto=[_revenue_line(row) for row in rows],
    )


SALE = sa.text(
    """
    SELECT transaction, status, product_id, product_name, price, currency, payment_type, installments,
           buyer_email, order_date, approved_at, status_history
    FROM hotmart.sales WHERE transaction = :transaction
    """
)


def hotmart_venda(conn: Connection, transaction: str) -> HotmartSale:
    """One sale and its status history as the state machine folded it (hotmart/state.py)."""
    row = conn.execute(SALE, {"transaction": transaction.strip()}).mappings().first()
    if row is None:
        raise ToolFailure(
            f"nenhuma venda Hotmart com a transação {transaction.strip()[:60]!r} (use o código exato, ex. HP0123456789)"
        )
    history = [
        HistoryStep(
            event_id=step.get("event_id"),
            event=step.get("event"),
            status=step.get("status"),
            at=step.get("at"),
            applied=step.get("applied"),
            previous_status=step.get("from"),
            raw_status=step.get("raw_status"),
        )
        for step in (row["status_history"] or [])[:ROW_CAP]
    ]
    buyer = row["buyer_email"] if pii.show_pii() else pii.mask_value(row["buyer_email"])
    return HotmartSale(
        transaction=row["transaction"],
        status=row["status"],
        estado_final=row["status"] in state.FINAL,
        proximos_status_possiveis=sorted(state.TRANSITIONS.get(row["status"], frozenset()) - {row["status"]}),
        product_id=row["product_id"],
        product_name=row["product_name"],
        price=_number(row["price"]),
        currency=row["currency"],
        payment_type=row["payment_type"],
        installments=row["installments"],
        comprador=buyer,
        order_date=jsonable(row["order_date"]),
        approved_at=jsonable(row["approved_at"]),
        historico=history,
    )


def perfis_buscar(db: ReadOnlyDb, texto: str, n: int = 10) -> ProfileSearch:
    """Semantic search over ai.contact_profiles with the enrichment domain's own search function."""
    from organizer_pipeline.enrichment.embeddings import openrouter_from_env, search

    found = search(db, openrouter_from_env(), texto, n)  # type: ignore[arg-type]  # Engine-shaped
    return ProfileSearch(
        perfis=[
            Profile(
                email=row["email"] if pii.show_pii() else pii.mask_value(row["email"]),
                segment=row.get("segment"),
                purchase_intent=row.get("purchase_intent"),
                churn_risk=row.get("churn_risk"),
                summary=pii.mask_text(row.get("summary")),
                distance=round(float(row["distance"]), 6),
            )
            for row in found
        ]
    )


def saude(db: ReadOnlyDb) -> Health:
    """The last recorded db_health run, and the inbox backlog and CVDW freshness measured now."""
    engine: Engine = db  # type: ignore[assignment]  # Engine-shaped: connect() is the read-only transaction
    latest = health.latest_results(engine)
    backlog = health.check_inbox_backlog(engine)
    freshness = health.check_cvdw_freshness(engine)
    return Health(
        ok=backlog.ok and freshness.ok and (latest is None or latest["ok"]),
        db_health=latest,
        inbox_backlog=backlog.as_dict(),
        cvdw_freshness=freshness.as_dict(),
    )
