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
    description: str
    upstream: tuple[str, ...]  # asset keys: CVDW/Hotmart tables, or other KPI views (by view name)
    materialized: bool = False
    unique_key: tuple[str, ...] = ()  # MVs: a unique index, so REFRESH … CONCURRENTLY never blocks readers
    period_column: str | None = None  # what ?de=&ate= filter in the API
    project_column: str | None = None  # what ?empreendimento= filters in the API
    order_by: tuple[str, ...] = ()  # stable order for pagination
    personal_columns: tuple[str, ...] = ()  # never copied into Dagster metadata (previews)

    @property
    def qualified(self) -> str:
        return f"{SCHEMA}.{self.name}"

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
    "in the month; distratos: core.distratos with ativo='S' and situacao_data in the month; estoque_inicial: "
    "units with situacao_mapa_disponibilidade = 1 (Disponível) in the month's first daily snapshot "
    "(core.unidades_situacao_diaria); lancadas: units in the month's last snapshot absent from its first. "
    "No snapshot in a month: estoque_inicial, lancadas and vso are NULL (unknown offer)."
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
        "VSO (vendas sobre oferta) per month and empreendimento; total = true rows cover all "
        "empreendimentos. " + VSO_FORMULA,
        upstream=("vendas_mensal", "distratos", "unidades", "empreendimentos"),
        materialized=True,
        unique_key=("mes", "idempreendimento", "total"),
        period_column="mes",
        project_column="idempreendimento",
        order_by=("mes", "total", "idempreendimento"),
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
