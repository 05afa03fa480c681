"""What the Dagster Catalog says about our tables: owners and tags by domain, and per materialization the
table's column schema (read from PostgreSQL itself, so it can never drift from the schema), its row count and
its name.

Business descriptions of the key columns live here, in one table, next to the domain owners; a column without
one falls back to its `COMMENT` in the database, then to nothing (its type and nullability still show)."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Domain:
    owner: str  # Dagster owners are e-mails or "team:<name>"
    label: str  # what the domain is, for the `domain` tag's readers


DOMAINS: dict[str, Domain] = {
    "cvdw": Domain("team:comercial", "real estate sales (CVCRM/CVDW)"),
    "hotmart": Domain("team:marketing", "digital products (Hotmart)"),
    "enrichment": Domain("team:marketing", "AI buyer profiles and Brevo CRM"),
    "kpi": Domain("team:diretoria", "KPIs, dashboard and BI"),
}

# What a business user gets from each table, in one line: the first line the Catalog shows. The technical
# description written beside each asset follows it.
SUMMARIES: dict[str, str] = {
    "reservas": "Every reserva and sale, with unit, broker and contract value: sales, VGV and ticket médio.",
    "reservas_condicoes": "How each sale is paid, series by series: ato, parcelas, chaves, bank financing.",
    "comissoes": "What each broker and brokerage earns per sale, and whether it was paid.",
    "unidades": "Every unit with its price and availability today: the stock behind VSO.",
    "distratos": "Sales that were undone, with the contract value given back.",
    "repasses": "Sales handed over to bank financing, with the financed value and its stage.",
    "atendimentos": "Customer-service tickets after the sale (relacionamento).",
    "empreendimentos": "Each empreendimento with its units and how many are still available.",
    "tipologias": "Unit types of each empreendimento with count, mean area and mean price.",
    "prosoluto": "Per sale, what the buyer pays the incorporadora directly (pró-soluto) and what the bank finances.",
    "hotmart_sales": "Every Hotmart purchase with its current status (approved, refunded, chargeback…) and price.",
    "hotmart_contacts": "Every Hotmart buyer with lifetime value per currency, products bought and subscription.",
    "contact_profiles": "An AI profile of each buyer (segment, intent, churn risk), searchable by meaning.",
    "brevo_contacts": "Each buyer kept current in Brevo CRM: attributes, lists by purchase state, events.",
    "kpi/vendas": "Every sale, one row each: the base of every sales number.",
    "kpi/vendas_mensal": "Sales, VGV and ticket médio per month and empreendimento.",
    "kpi/comissoes_mensal": "Commissions earned per month and empreendimento.",
    "kpi/comissoes_corretor": "Brokers ranked by commission.",
    "kpi/vso_mensal": "VSO (sales over offer) per month and empreendimento, from the first month of sales.",
    "kpi/estoque_unidades": "Units of each empreendimento by availability, today.",
    "kpi/estoque_empreendimento": "Stock of each empreendimento and the months it takes to sell out.",
    "kpi/prosoluto_mensal": "Pró-soluto against bank financing per month and empreendimento.",
    "kpi/hotmart_receita_diaria": "Hotmart revenue and refunds per day, product and currency.",
    "kpi/hotmart_funil": "Hotmart cart abandonment against purchases, per product.",
    "kpi/dashboard": "The KPI dashboard: its link, the headline numbers and the sales chart.",
}

_COMMON = {
    "referencia": "CVDW's row key (`referencia`): what a re-read upserts on",
    "referencia_data": "When CVDW last changed the row (the partition day, São Paulo time)",
    "ativo": "'S' active; 'N' deleted in CVCRM (kept, never hard-deleted)",
    "idempreendimento": "Empreendimento (project) id in CVCRM",
    "empreendimento": "Empreendimento (project) name",
    "idreserva": "Reserva id in CVCRM (one reserva goes proposal → sale → maybe distrato)",
    "valor_contrato": "Contract value (R$): the sale's VGV",
    "updated_at": "When this row last changed here",
}

COLUMN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "core.reservas": {
        "data_venda": "Sale date; a sale is ativo='S' with data_venda set",
        "situacao": "Commercial situation in CVCRM (Vendida, Distrato, Nova Reserva…)",
        "idunidade": "The unit sold",
        "corretor": "Broker who sold it",
        "imobiliaria": "Brokerage of the broker",
        "data_cancelamento": "When the reserva was cancelled, if it was",
    },
    "core.reservas_condicoes": {
        "idreserva": "The reserva these payment conditions belong to",
        "serie": "Payment series as typed in CVCRM (Ato, Mensais, Financiamento…): pró-soluto or financing",
        "parcela_quantidade": "Instalments the series is split into",
        "valor": "Whole value of the series (R$), nominal",
        "vencimento": "First due date of the series",
    },
    "core.comissoes": {
        "idcomissao": "Commission id",
        "idreserva": "The sale that earned it",
        "valor_comissao": "Commission value (R$)",
        "situacao": "Commission situation (a cancelled sale's commission is inactive)",
        "data_pagamento": "When it was paid, if it was",
    },
    "core.unidades": {
        "idunidade": "Unit id",
        "situacao_mapa_disponibilidade": "1 Disponível, 2 Reservada, 3 Vendida, 4 Bloqueada, 5 Em processo de reserva",
        "valor": "Table price (R$)",
        "tipologia": "Unit type (2 quartos, studio…)",
        "first_seen_at": "First time this unit appeared here: its launch, for VSO reconstruction",
    },
    "core.distratos": {
        "idreserva": "The sale that was undone",
        "situacao_data": "When the distrato happened",
        "valor_contrato": "Contract value given back (R$)",
    },
    "core.repasses": {
        "idreserva": "The sale whose financing was handed over to the bank",
        "valor_financiado": "Financed value (R$)",
        "data_repasse": "Hand-over date",
    },
    "core.atendimentos": {
        "protocolo": "Ticket number shown to the customer",
        "situacao": "Ticket situation",
        "data_conclusao": "When the ticket was closed",
    },
    "core.empreendimentos": {
        "nome": "Empreendimento name",
        "unidades_total": "Units it has",
        "unidades_disponiveis": "Units available now (situação 1)",
    },
    "core.tipologias": {
        "tipologia": "Unit type",
        "unidades_total": "Units of this type",
        "valor_medio": "Mean table price (R$)",
    },
    "core.prosoluto": {
        "valor_financiado": "Σ of the financing series: bank, FGTS, subsídio (R$)",
        "valor_prosoluto": "Σ of every other series: what the buyer pays the incorporadora directly (R$)",
        "percentual_prosoluto": "valor_prosoluto / valor_contrato (0.25 = 25 %)",
        "comissao_total": "Σ of the sale's active commissions (R$)",
    },
    "hotmart.sales": {
        "transaction": "Hotmart purchase transaction code",
        "status": "Status after the sale state machine (a late APPROVED never revives a refund)",
        "price": "Price paid, in `currency`",
        "currency": "ISO currency of the price",
        "buyer_email": "Buyer (personal data: masked in logs)",
        "status_history": "Every status the sale went through, in order",
    },
    "hotmart.contacts": {
        "email": "Buyer e-mail, lower case: the contact key (personal data)",
        "status": "The contact's status across its sales",
        "lifetime_value": "Lifetime value in BRL only (other currencies are never summed into it)",
        "lifetime_value_by_currency": "Lifetime value per currency",
        "facts_hash": "Hash of the facts the AI profile is built from: a change re-profiles the contact",
    },
    "ai.contact_profiles": {
        "segment": "Buyer segment chosen by the model",
        "purchase_intent": "Purchase intent estimated by the model",
        "churn_risk": "Churn risk estimated by the model",
        "embedding": "pgvector embedding of the profile (semantic search)",
        "embedding_model": "Model that made the embedding: search only compares vectors of one model",
        "prompt_version": "Prompt version: a new one re-profiles every contact",
    },
    "ai.brevo_sync": {
        "list_ids": "Brevo lists the contact is in, from each sale's state",
        "in_brevo": "Whether Brevo holds the contact",
        "synced_at": "Last successful sync",
    },
}

SCHEMA_SQL = sa.text(
    """
    SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
           col_description(a.attrelid, a.attnum) AS comment,
           EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisunique
                   AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum) AS unique
    FROM pg_attribute a
    WHERE a.attrelid = to_regclass(:table) AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
    """
)


def column_schema(conn: Connection, table: str) -> dg.TableSchema:
    """The table's columns as PostgreSQL has them, with our business descriptions."""
    described = {**_COMMON, **COLUMN_DESCRIPTIONS.get(table, {})}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                row.name,
                row.type,
                description=described.get(row.name) or row.comment,
                constraints=dg.TableColumnConstraints(nullable=row.nullable, unique=row.unique),
            )
            for row in conn.execute(SCHEMA_SQL, {"table": table})
        ]
    )


def table_metadata(conn: Connection, table: str) -> dict[str, object]:
    """`dagster/table_name`, `dagster/column_schema` and `dagster/row_count` of one table or view."""
    rows = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608 - our table names
    return {
        "dagster/table_name": table,
        "dagster/column_schema": column_schema(conn, table),
        "dagster/row_count": rows,
    }


def with_domain(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Owners and a `domain` tag from the asset's group (= domain); the business summary first."""
    domain = DOMAINS.get(spec.group_name or "")
    if domain is None:
        return spec
    summary = SUMMARIES.get(spec.key.to_user_string())
    if summary and not (spec.description or "").startswith(summary):
        spec = spec.replace_attributes(description=f"{summary}\n\n{spec.description or ''}".strip())
    return spec.merge_attributes(owners=[domain.owner], tags={"domain": spec.group_name or ""})
