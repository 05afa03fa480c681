"""The KPI objects in schema `kpi`: one entry per view, in build order, with the SQL in `sql/<name>.sql`.

Aggregates are MATERIALIZED views (the dashboard reads them in milliseconds at 1M reservas); the row-level
`kpi.vendas` and the small `kpi.comissoes_corretor` stay plain views (always current, nothing to store).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

SQL_DIR = Path(__file__).parent / "sql"
SCHEMA = "kpi"


@dataclass(frozen=True)
class KpiView:
    name: str
    description: str  # what a reader gets, in a sentence or two
    upstream: tuple[str, ...]  # asset keys: CVDW/Hotmart tables, or other KPI views (by view name)
    materialized: bool = False
    unique_key: tuple[str, ...] = ()  # MVs: a unique index, so REFRESH … CONCURRENTLY never blocks readers
    period_column: str | None = None  # what ?de=&ate= filter in the API
    project_column: str | None = None  # what ?empreendimento= filters in the API
    order_by: tuple[str, ...] = ()  # stable order for pagination
    personal_columns: tuple[str, ...] = ()  # never copied into Dagster metadata (previews)
    formula: str = ""  # how the numbers are computed, for people and tools (COMMENT, API catalogue, MCP)

    @property
    def qualified(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def comment(self) -> str:
        """The object's COMMENT: `\\d+ kpi.<view>` shows what it is and how it is computed."""
        return f"{self.description} {self.formula}".strip()

    @functools.cached_property
    def sql(self) -> str:
        return (SQL_DIR / f"{self.name}.sql").read_text(encoding="utf-8").strip().rstrip(";")

    @functools.cached_property
    def fingerprint(self) -> str:
        """Changes whenever the definition does: the Dagster code version and the object's stored tag."""
        text = f"{self.materialized}|{self.unique_key}|{self.sql}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


VSO_FORMULA = (
    "VSO = (vendidas - distratos) / (estoque_inicial + lancadas). vendidas: sales (kpi.vendas) with data_venda "
    "in the month; distratos: core.distratos with ativo='S' and situacao_data in the month; estoque_inicial: the "
    "offer when the month began, units neither sold nor blocked (situacao_mapa_disponibilidade 1 Disponível, "
    "2 Reservada, 5 Em processo de reserva), so a reserva that closes in the month is in the numerator and the "
    "denominator; lancadas: units launched in the month, unless blocked. estoque_fonte = 'snapshot' when the "
    "month has a daily snapshot (core.unidades_situacao_diaria) on its first day: stock from that snapshot, "
    "launches = units in the month's last snapshot absent from its first. Otherwise 'reconstruido': stock = units "
    "that had appeared before the month began minus those with an active sale (net of distratos) then; launches "
    "= units that appeared in the month. A unit appears on the first snapshot that shows it when that is later "
    "than the first snapshot day, else on its empreendimento's first appearance (earliest data_cad/data_venda of "
    "its active reservas, or the first snapshot day if earlier); a unit blocked when first seen counts as blocked "
    "all along. estoque_inicial_reconstruido / lancadas_reconstruidas give the reconstruction for every month, "
    "to compare with the snapshot where both exist. Zero offer: vso NULL."
)
PROSOLUTO_FORMULA = (
    "vgv = sum of valor_contrato of the month's sales; vgv_com_condicoes = the same over sales with payment "
    "conditions (core.prosoluto); valor_prosoluto = sum of the non-financing payment series of those sales "
    "(ato, sinal, mensais, intercaladas, chaves…, each series' valor); valor_financiado = sum of the financing "
    "series (listed in core.prosoluto_series: financiamento, FGTS, subsídio…); percentual_prosoluto = "
    "valor_prosoluto / vgv_com_condicoes (a fraction)."
)
ESTOQUE_FORMULA = (
    "estoque = units now with situacao_mapa_disponibilidade 1, 2 or 5 (neither sold nor blocked, the VSO offer); "
    "vendas_liquidas_3m = sales (kpi.vendas) minus active distratos in the 3 whole months before the current one "
    "(America/Sao_Paulo; janela_inicio..janela_fim); media_mensal_3m = vendas_liquidas_3m / 3; "
    "meses_para_vender = estoque / media_mensal_3m (0 when nothing is left, NULL when nothing sold net)."
)

VIEWS: tuple[KpiView, ...] = (
    KpiView(
        "vendas",
        "Sales: reservas with ativo='S' and data_venda set (gross; a sale later cancelled by a distrato "
        "stays, with data_cancelamento). One row per reserva.",
        upstream=("reservas",),
        period_column="data_venda",
        project_column="idempreendimento",
        order_by=("data_venda", "referencia"),
        personal_columns=("idcliente", "cliente"),
    ),
    KpiView(
        "vendas_mensal",
        "Sales per month (mes) and empreendimento: vendas (count), vgv (sum of valor_contrato) and "
        "ticket_medio = vgv / vendas; rows with total = true sum all empreendimentos of the month.",
        upstream=("vendas",),
        materialized=True,
        unique_key=("mes", "idempreendimento", "total"),
        period_column="mes",
        project_column="idempreendimento",
        order_by=("mes", "total", "idempreendimento"),
    ),
    KpiView(
        "comissoes_mensal",
        "Commissions (core.comissoes, ativo='S') of sales in kpi.vendas, per sale month, empreendimento and "
        "broker: comissao_total = sum of valor_comissao; vendas = distinct sales with a commission.",
        upstream=("vendas", "comissoes"),
        materialized=True,
        unique_key=("mes", "idempreendimento", "corretor"),
        period_column="mes",
        project_column="idempreendimento",
        order_by=("mes", "idempreendimento", "corretor"),
    ),
    KpiView(
        "comissoes_corretor",
        "Top performers by commission, all time: comissao_total, vendas and ranking (1 = highest; ties "
        "share a rank). Period/empreendimento breakdown: kpi.comissoes_mensal.",
        upstream=("comissoes_mensal",),
        order_by=("ranking", "corretor"),
    ),
    KpiView(
        "vso_mensal",
        "VSO (vendas sobre oferta) per month and empreendimento, from the first month of sales on (total = "
        "true rows cover all empreendimentos); estoque_fonte says whether the month's stock is a daily snapshot "
        "or reconstructed from the sales history.",
        upstream=("vendas_mensal", "distratos", "unidades", "reservas", "empreendimentos"),
        materialized=True,
        unique_key=("mes", "idempreendimento", "total"),
        period_column="mes",
        project_column="idempreendimento",
        order_by=("mes", "total", "idempreendimento"),
        formula=VSO_FORMULA,
    ),
    KpiView(
        "estoque_unidades",
        "Current units per empreendimento by availability situation (situacao_mapa_disponibilidade: "
        "1 Disponível, 2 Reservada, 3 Vendida, 4 Bloqueada, 5 Em processo de reserva), with valor_total.",
        upstream=("unidades", "empreendimentos"),
        materialized=True,
        unique_key=("idempreendimento", "situacao_codigo"),
        project_column="idempreendimento",
        order_by=("idempreendimento", "situacao_codigo"),
    ),
    KpiView(
        "estoque_empreendimento",
        "Current stock per empreendimento and the months it takes to sell out at the pace of the last 3 months "
        "(meses_para_vender: what an incorporadora plans launches by).",
        upstream=("vendas", "unidades", "distratos", "empreendimentos"),
        materialized=True,
        unique_key=("idempreendimento",),
        project_column="idempreendimento",
        order_by=("idempreendimento",),
        formula=ESTOQUE_FORMULA,
    ),
    KpiView(
        "prosoluto_mensal",
        "Pró-soluto per sale month and empreendimento: VGV, the part paid to the incorporadora directly "
        "(valor_prosoluto, percentual_prosoluto of the VGV) and the financed part (valor_financiado); total = "
        "true rows cover all empreendimentos.",
        upstream=("vendas", "prosoluto"),
        materialized=True,
        unique_key=("mes", "idempreendimento", "total"),
        period_column="mes",
        project_column="idempreendimento",
        order_by=("mes", "total", "idempreendimento"),
        formula=PROSOLUTO_FORMULA,
    ),
    KpiView(
        "hotmart_receita_diaria",
        "Hotmart sales per approval day (America/Sao_Paulo), product and currency (moeda): a sale is a "
        "transaction with approved_at set; receita_bruta = sum of price; receita_liquida_produtor = sum of "
        "producer_commission of sales not REFUNDED/CHARGEBACK; reembolsos = sales now REFUNDED or "
        "CHARGEBACK; taxa_reembolso = reembolsos / vendas (by approval day).",
        upstream=("hotmart_sales",),
        materialized=True,
        unique_key=("dia", "product_id", "moeda"),
        period_column="dia",
        order_by=("dia", "product_id", "moeda"),
    ),
    KpiView(
        "hotmart_funil",
        "Cart abandonment -> purchase per product in distinct e-mails: abandonos "
        "(PURCHASE_OUT_OF_SHOPPING_CART events), compradores (approved sales), recuperados (abandoners who "
        "bought the product after abandoning it), taxa_conversao = recuperados / abandonos.",
        upstream=("hotmart_sales",),
        materialized=True,
        unique_key=("product_id",),
        order_by=("product_id",),
    ),
)

BY_NAME: dict[str, KpiView] = {view.name: view for view in VIEWS}


def get(name: str) -> KpiView:
    return BY_NAME[name]
