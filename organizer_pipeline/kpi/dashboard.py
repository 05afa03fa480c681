"""The KPI dashboard as plain functions: Plotly figures from `queries.DashboardData`, and the HTML page.

The page loads Plotly's JS from the app itself (`PLOTLY_JS_PATH`, no CDN) and carries a tiny probe that
records JS errors and how many charts rendered in `<body data-…>` attributes (read by the browser test and
handy for any uptime check).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import Any

from organizer_pipeline.kpi import formatting as fmt
from organizer_pipeline.kpi import queries
from organizer_pipeline.kpi.queries import DashboardData, Filters

PLOTLY_JS_PATH = "/static/plotly.min.js"
CONFIG = {"displaylogo": False, "responsive": True}
COLORS = ["#1f4e79", "#2e86c1", "#f39c12", "#27ae60", "#c0392b", "#8e44ad"]
SITUATION_COLORS = {1: "#27ae60", 2: "#f39c12", 3: "#1f4e79", 4: "#7f8c8d", 5: "#e67e22"}
GRID = {"gridcolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "automargin": True}

# Figures are plain Plotly JSON dicts: plotly.graph_objects validates and deep-copies templates on every
# update (~80 ms per chart), which alone would break the dashboard's latency budget. Plotly.js validates
# them in the browser anyway, and kaleido takes the same dicts for the PNG.
Figure = dict[str, Any]

# Up to 24 months on a category axis: every other label, upright and whole (rotated labels were cut by the
# legend below them).
MONTHS_AXIS = {"type": "category", "nticks": 12}


def _figure(data: list[dict], title: str, barmode: str = "group", **axes: dict) -> Figure:
    layout = {
        "title": {"text": title, "x": 0.01},
        "separators": ",.",  # pt-BR: decimal comma, thousands dot
        "height": 360,
        "margin": {"l": 60, "r": 30, "t": 50, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
        "barmode": barmode,
        "colorway": COLORS,
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "font": {"color": "#2a3f5f"},
        "xaxis": dict(GRID),
        "yaxis": dict(GRID),
    }
    for name, settings in axes.items():
        layout[name] = {**layout.get(name, GRID), **settings}
    return {"data": data, "layout": layout}


def sales_figure(data: DashboardData) -> Figure:
    """The headline chart: sales count (bars) and VGV (line) per month."""
    months = [row["mes"].strftime("%m/%Y") for row in data.monthly]
    bars = {"type": "bar", "x": months, "y": [row["vendas"] for row in data.monthly], "name": "Vendas"}
    line = {
        "type": "scatter",
        "x": months,
        "y": [float(row["vgv"]) for row in data.monthly],
        "name": "VGV",
        "yaxis": "y2",
        "mode": "lines+markers",
        "hovertemplate": "VGV R$ %{y:,.2f}<extra></extra>",
    }
    return _figure(
        [bars, line],
        "Evolução das vendas",
        xaxis=MONTHS_AXIS,
        yaxis={"title": {"text": "Vendas"}, "rangemode": "tozero"},
        yaxis2={
            "title": {"text": "VGV"},
            "overlaying": "y",
            "side": "right",
            "tickprefix": "R$ ",
            "rangemode": "tozero",
            "showgrid": False,
        },
    )


def brokers_figure(data: DashboardData) -> Figure:
    rows = list(reversed(data.brokers))  # largest at the top
    bars = {
        "type": "bar",
        "orientation": "h",
        "x": [float(row["comissao_total"]) for row in rows],
        "y": [row["corretor"] for row in rows],
        "customdata": [row["vendas"] for row in rows],
        "hovertemplate": "%{y}: R$ %{x:,.2f} (%{customdata} vendas)<extra></extra>",
        "marker": {"color": COLORS[1]},
    }
    return _figure(
        [bars], "Top corretores por comissão", xaxis={"tickprefix": "R$ "}, yaxis={"type": "category"}
    )


def vso_figure(data: DashboardData) -> Figure:
    rows = [row for row in data.vso if row["vso"] is not None]
    bars = {
        "type": "bar",
        "x": [row["empreendimento"] or "(sem nome)" for row in rows],
        "y": [float(row["vso"]) for row in rows],
        "text": [fmt.percent(row["vso"]) for row in rows],
        "textposition": "auto",
        "hovertemplate": "%{x}: %{text}<extra></extra>",
        "marker": {"color": COLORS[3]},
    }
    return _figure([bars], "VSO por empreendimento", xaxis={"type": "category"}, yaxis={"tickformat": ".0%"})


def vso_monthly_figure(data: DashboardData) -> Figure:
    """VSO per month; months whose stock was reconstructed from the sales history (no daily snapshot yet) are
    drawn apart, lighter and hatched, with their own legend entry."""
    traces = []
    for source, name, color, pattern in (
        ("snapshot", "Estoque da foto diária", COLORS[3], ""),
        ("reconstruido", "Estoque reconstruído (histórico de vendas)", "#a9dfbf", "/"),
    ):
        rows = [row for row in data.vso_monthly if row["estoque_fonte"] == source and row["vso"] is not None]
        traces.append(
            {
                "type": "bar",
                "x": [row["mes"].strftime("%m/%Y") for row in rows],
                "y": [float(row["vso"]) for row in rows],
                "text": [fmt.percent(row["vso"]) for row in rows],
                "textposition": "outside",  # a 0 % month still shows its label
                "name": name,
                "marker": {"color": color, "pattern": {"shape": pattern}},
                "hovertemplate": "%{x}: %{text} (" + name.lower() + ")<extra></extra>",
            }
        )
    months = sorted({row["mes"] for row in data.vso_monthly})
    return _figure(
        traces,
        "VSO por mês",
        xaxis={
            **MONTHS_AXIS,
            "categoryorder": "array",
            "categoryarray": [month.strftime("%m/%Y") for month in months],
        },
        yaxis={"tickformat": ".0%", "rangemode": "tozero"},
    )


def prosoluto_figure(data: DashboardData) -> Figure:
    """Per sale month: what buyers pay the incorporadora directly against what banks finance, and its share."""
    rows = data.prosoluto_monthly
    months = [row["mes"].strftime("%m/%Y") for row in rows]
    share = [queries.ratio(row["valor_prosoluto"], row["vgv_com_condicoes"]) for row in rows]
    bars = [
        {
            "type": "bar",
            "x": months,
            "y": [float(row[column]) for row in rows],
            "name": name,
            "marker": {"color": color},
            "hovertemplate": name + " R$ %{y:,.2f}<extra></extra>",
        }
        for column, name, color in (
            ("valor_prosoluto", "Pró-soluto", COLORS[2]),
            ("valor_financiado", "Financiado", COLORS[0]),
        )
    ]
    return _figure(
        [
            *bars,
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": months,
                "y": [None if value is None else float(value) for value in share],
                "name": "% pró-soluto",
                "yaxis": "y2",
                "marker": {"color": COLORS[4]},
                "hovertemplate": "%{y:.1%} do VGV<extra></extra>",
            },
        ],
        "Pró-soluto × financiamento por mês da venda",
        barmode="stack",
        xaxis=MONTHS_AXIS,
        yaxis={"tickprefix": "R$ ", "rangemode": "tozero"},
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "tickformat": ".0%",
            "tickmode": "auto",
            "rangemode": "tozero",
            "showgrid": False,
        },
    )


def stock_figure(data: DashboardData) -> Figure:
    bars = {
        "type": "bar",
        "x": [row["situacao"] for row in data.stock],
        "y": [row["unidades"] for row in data.stock],
        "marker": {"color": [SITUATION_COLORS.get(row["situacao_codigo"], "#999") for row in data.stock]},
        "hovertemplate": "%{x}: %{y} unidades<extra></extra>",
    }
    return _figure(
        [bars],
        "Estoque por situação (hoje)",
        xaxis={"type": "category"},
        yaxis={"title": {"text": "Unidades"}},
    )


def hotmart_figure(data: DashboardData) -> Figure:
    days = [row["dia"].isoformat() for row in data.hotmart_daily]
    gross = {
        "type": "bar",
        "x": days,
        "y": [float(row["receita_bruta"]) for row in data.hotmart_daily],
        "name": "Receita bruta",
    }
    net = {
        "type": "scatter",
        "mode": "lines",
        "x": days,
        "y": [float(row["receita_liquida_produtor"]) for row in data.hotmart_daily],
        "name": "Líquida do produtor",
    }
    return _figure(
        [gross, net],
        "Receita Hotmart (BRL) por dia",
        yaxis={"tickprefix": "R$ "},
        xaxis={
            "type": "date",
            "tickformat": "%d/%m/%Y",
            "dtick": 86_400_000,
        },  # one tick per day, never repeated
    )


FIGURES = (
    ("chart-sales", sales_figure),
    ("chart-brokers", brokers_figure),
    ("chart-vso", vso_figure),
    ("chart-vso-mensal", vso_monthly_figure),
    ("chart-prosoluto", prosoluto_figure),
    ("chart-stock", stock_figure),
    ("chart-hotmart", hotmart_figure),
)


def script_json(value: object) -> str:
    """JSON safe inside <script>: no "<" survives, so a name like "</script>" cannot end the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_plain)
    return text.replace("<", "\\u003c")


def _plain(value: object) -> object:
    converted = fmt.jsonable(value)
    if converted is value:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return converted


def chart(div_id: str, figure: Figure) -> str:
    return (
        f'<div class="chart"><div id="{div_id}" class="plot"></div><script>'
        f'Plotly.newPlot("{div_id}", {script_json(figure["data"])}, {script_json(figure["layout"])}, '
        f"{script_json(CONFIG)});</script></div>"
    )


def _rebuilt(data: DashboardData) -> str:
    months = sum(1 for row in data.vso_monthly if row["estoque_fonte"] == "reconstruido")
    return f"; {months} mês(es) com estoque reconstruído" if months else ""


def cards(data: DashboardData) -> list[tuple[str, str, str]]:
    """(label, value, note) of the headline numbers, formatted pt-BR."""
    t = data.totals
    return [
        ("Vendas", fmt.number(t["vendas"]), "reservas ativas com data de venda"),
        ("VGV vendido", fmt.brl(t["vgv"]), "soma de valor_contrato"),
        ("Ticket médio", fmt.brl(t["ticket_medio"]), "VGV ÷ vendas"),
        ("Comissões", fmt.brl(t["comissoes"]), "comissões ativas das vendas"),
        (
            "VSO",
            fmt.percent(t["vso"]),
            "(vendas − distratos) ÷ (estoque inicial + lançamentos)" + _rebuilt(data),
        ),
        (
            "Pró-soluto",
            fmt.percent(t["percentual_prosoluto"]),
            f"{fmt.brl(t['prosoluto'])} pagos direto à incorporadora, do VGV das vendas com condições",
        ),
        (
            "Meses para vender o estoque",
            "–" if t["meses_para_vender"] is None else fmt.number(t["meses_para_vender"], 1),
            "estoque atual ÷ vendas líquidas por mês dos últimos 3 meses",
        ),
        ("Receita Hotmart", fmt.brl(t["hotmart_receita"]), "bruta, BRL, vendas aprovadas"),
        ("Reembolsos Hotmart", fmt.percent(t["hotmart_taxa_reembolso"]), "reembolsos + chargebacks ÷ vendas"),
    ]


PAGE = """<!DOCTYPE html>
<html lang="pt-BR">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Organizer — KPIs</title>
<script>
(function () {{
  var errors = [];
  window.__dashboardErrors = errors;
  window.addEventListener("error", function (e) {{ errors.push(String(e.message || e.type)); }}, true);
  window.addEventListener("unhandledrejection", function (e) {{ errors.push(String(e.reason)); }});
  var original = console.error;
  console.error = function () {{ errors.push(Array.prototype.join.call(arguments, " ")); original.apply(console, arguments); }};
  window.addEventListener("load", function () {{
    document.querySelectorAll(".js-plotly-plot").forEach(function (el) {{ window.Plotly.Plots.resize(el); }});
    var rendered = document.querySelectorAll(".js-plotly-plot .main-svg").length ? document.querySelectorAll(".js-plotly-plot").length : 0;
    document.body.setAttribute("data-charts-rendered", String(rendered));
    document.body.setAttribute("data-js-errors", JSON.stringify(errors));
  }});
}})();
</script>
<script src="{plotly_js}"></script>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #f4f6f8; color: #1c2833; }}
header {{ background: #1f4e79; color: #fff; padding: 14px 24px; }}
header h1 {{ margin: 0; font-size: 20px; }}
main {{ padding: 16px 24px; }}
form.filters {{ display: flex; gap: 12px; align-items: end; flex-wrap: wrap; margin-bottom: 16px; }}
form.filters label {{ display: flex; flex-direction: column; font-size: 12px; color: #566573; }}
form.filters input, form.filters select, form.filters button {{ font-size: 14px; padding: 4px 8px; }}
.cards {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(230px, 1fr)); gap: 12px; margin-bottom: 16px; }}
.card {{ background: #fff; border-radius: 8px; padding: 12px 14px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }}
.card .label {{ font-size: 12px; color: #566573; text-transform: uppercase; letter-spacing: .03em; }}
.card .value {{ font-size: 20px; font-weight: 600; margin: 4px 0; white-space: nowrap; }}
.card .note {{ font-size: 11px; color: #85929e; }}
.charts {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 12px; }}
.plot {{ width: 100%; height: 360px; }}
.chart {{ min-width: 0; background: #fff; border-radius: 8px; padding: 6px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }}
.notice {{ background: #fff; border-left: 4px solid #f39c12; padding: 16px; border-radius: 4px; }}
.error {{ border-left-color: #c0392b; }}
</style>
</head>
<body>
<header><h1>Organizer — indicadores de vendas e Hotmart</h1></header>
<main>
{body}
</main>
</body>
</html>
"""


def _options(projects: Iterable[dict], selected: int | None) -> str:
    items = ['<option value="">Todos</option>']
    for project in projects:
        value = project["idempreendimento"]
        mark = " selected" if value == selected else ""
        items.append(
            f'<option value="{value}"{mark}>{html.escape(project["empreendimento"] or str(value))}</option>'
        )
    return "".join(items)


def filter_form(filters: Filters, projects: Iterable[dict]) -> str:
    start = filters.start.strftime("%Y-%m") if filters.start else ""
    end = filters.end.strftime("%Y-%m") if filters.end else ""
    return (
        '<form class="filters" method="get" action="/dashboard">'
        f'<label>De (mês)<input type="month" name="de" value="{start}"></label>'
        f'<label>Até (mês)<input type="month" name="ate" value="{end}"></label>'
        f'<label>Empreendimento<select name="empreendimento">{_options(projects, filters.empreendimento)}</select></label>'
        '<button type="submit">Filtrar</button> <a href="/dashboard">limpar</a></form>'
    )


def notice_page(title: str, message: str, error: bool = False) -> str:
    css = "notice error" if error else "notice"
    body = f'<div class="{css}"><h2>{html.escape(title)}</h2><p>{html.escape(message)}</p></div>'
    return PAGE.format(plotly_js=PLOTLY_JS_PATH, body=body)


def no_data_page(data: DashboardData) -> str:
    if data.missing_views:
        detail = (
            f"As views de KPI ainda não foram criadas ({', '.join(data.missing_views)}): materialize os assets do "
            "grupo kpi (dagster asset materialize -m organizer_pipeline.definitions --select 'group:kpi' ou "
            "organizer kpi refresh)."
        )
    else:
        detail = "As views de KPI estão vazias: nenhuma venda, unidade ou venda Hotmart foi carregada ainda."
    return notice_page("Sem dados ainda (no data yet)", detail)


def render_page(data: DashboardData) -> str:
    """The whole dashboard page; a friendly "no data yet" page when there is nothing to show."""
    if not data.has_data:
        return no_data_page(data)
    card_html = "".join(
        f'<div class="card"><div class="label">{html.escape(label)}</div><div class="value">{html.escape(value)}</div>'
        f'<div class="note">{html.escape(note)}</div></div>'
        for label, value, note in cards(data)
    )
    charts = "".join(chart(div_id, build(data)) for div_id, build in FIGURES)
    body = (
        filter_form(data.filters, data.projects)
        + f'<section class="cards">{card_html}</section><section class="charts">{charts}</section>'
    )
    return PAGE.format(plotly_js=PLOTLY_JS_PATH, body=body)
