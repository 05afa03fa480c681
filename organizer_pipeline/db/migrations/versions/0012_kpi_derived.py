"""Derived tables: prosoluto, VSO reconstruction (issues 11, 14, 15).

`core.prosoluto` is the seed system's "cálculos de comissão" table, rebuilt whole by the `prosoluto` asset from
`core.reservas_condicoes`. Which payment series are bank financing (as opposed to pró-soluto, paid to the
incorporadora) is data: `core.prosoluto_series`, one row per normalised series name. Names are compared after
`core.normaliza_serie()` — lower case, no accents, digits and punctuation as spaces — written with translate()
so it needs no extension (a least-privilege role may not be allowed to install `unaccent`).

Revision ID: 0012_kpi_derived
Revises: 0011_cvdw_limits
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_kpi_derived"
down_revision = "0011_cvdw_limits"
branch_labels = None
depends_on = None

ACCENTED = "ÁÀÂÃÄÅáàâãäåÉÈÊËéèêëÍÌÎÏíìîïÓÒÔÕÖóòôõöÚÙÛÜúùûüÇçÑñ"
PLAIN = "AAAAAAaaaaaaEEEEeeeeIIIIiiiiOOOOOoooooUUUUuuuuCcNn"

# (normalised name, financiamento, months between instalments). Frozen here: a tenant adds its own names with
# INSERT (the `prosoluto` asset check names every series it does not know).
FINANCING = (
    "financiamento", "financiamentos", "financiamento bancario", "financiamento banco", "financiamento caixa",
    "financiamento cef", "financiamento habitacional", "financiamento imobiliario", "financiamento sfh",
    "financiamento sfi", "financiamento mcmv", "financiamento associativo", "credito associativo",
    "financiamento direto banco", "repasse", "repasse bancario", "valor financiado", "carta de credito",
    "consorcio", "fgts", "recursos fgts", "saldo fgts", "uso do fgts", "subsidio", "subsidios",
    "subsidio mcmv", "subsidio caixa", "subsidio federal", "subsidio estadual", "subsidio municipal",
    "desconto mcmv", "cheque moradia",
)  # fmt: skip
PRO_SOLUTO = (
    ("ato", 1), ("sinal", 1), ("ato sinal", 1), ("sinal ato", 1), ("entrada", 1), ("entradas", 1),
    ("a vista", 1), ("pagamento a vista", 1), ("parcela unica", 1), ("recursos proprios", 1),
    ("mensal", 1), ("mensais", 1), ("parcela", 1), ("parcelas", 1), ("parcela mensal", 1),
    ("parcelas mensais", 1), ("mensalidade", 1), ("mensalidades", 1), ("pro soluto", 1),
    ("bimestral", 2), ("bimestrais", 2), ("parcela bimestral", 2), ("parcelas bimestrais", 2),
    ("trimestral", 3), ("trimestrais", 3), ("parcela trimestral", 3), ("parcelas trimestrais", 3),
    ("semestral", 6), ("semestrais", 6), ("parcela semestral", 6), ("parcelas semestrais", 6),
    ("intercalada", 6), ("intercaladas", 6), ("parcela intercalada", 6), ("parcelas intercaladas", 6),
    ("anual", 12), ("anuais", 12), ("parcela anual", 12), ("parcelas anuais", 12),
    ("balao", 1), ("baloes", 1), ("reforco", 1), ("reforcos", 1),
    ("chaves", 1), ("parcela chaves", 1), ("parcela das chaves", 1), ("entrega das chaves", 1),
    ("entrega de chaves", 1), ("pos chaves", 1), ("parcelas pos chaves", 1), ("pos obra", 1),
)  # fmt: skip


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION core.normaliza_serie(serie text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        RETURN btrim(regexp_replace(lower(translate(serie, '{ACCENTED}', '{PLAIN}')), '[^a-z]+', ' ', 'g'))
        """
    )
    op.execute(
        """
        COMMENT ON FUNCTION core.normaliza_serie(text) IS
        'Payment-series name as matched against core.prosoluto_series: lower case, accents removed, digits and '
        'punctuation collapsed to single spaces ("1ª Intercalada" -> "intercalada", "Subsídio" -> "subsidio").'
        """
    )
    op.execute(
        """
        CREATE TABLE core.prosoluto_series (
            serie text PRIMARY KEY CHECK (serie <> '' AND serie = core.normaliza_serie(serie)),
            financiamento boolean NOT NULL,
            meses_entre_parcelas smallint NOT NULL DEFAULT 1 CHECK (meses_entre_parcelas >= 0)
        )
        """
    )
    op.execute(
        "COMMENT ON TABLE core.prosoluto_series IS 'Known payment series of /reservas/condicoes: financiamento = "
        "bank financing (financiamento, FGTS, subsídio), otherwise pró-soluto (paid to the incorporadora). "
        "A series not listed counts as pró-soluto and is named by the prosoluto asset check series_known.'"
    )
    series = sa.table(
        "prosoluto_series",
        sa.column("serie", sa.Text),
        sa.column("financiamento", sa.Boolean),
        sa.column("meses_entre_parcelas", sa.SmallInteger),
        schema="core",
    )
    rows = [{"serie": name, "financiamento": True, "meses_entre_parcelas": 1} for name in FINANCING]
    rows += [
        {"serie": name, "financiamento": False, "meses_entre_parcelas": months} for name, months in PRO_SOLUTO
    ]
    op.bulk_insert(series, rows)
    op.execute(
        """
        CREATE TABLE core.prosoluto (
            idreserva bigint PRIMARY KEY,
            referencia text NOT NULL,
            idempreendimento bigint,
            valor_contrato numeric(16,2),
            valor_financiado numeric(18,2) NOT NULL,
            valor_prosoluto numeric(18,2) NOT NULL,
            percentual_prosoluto numeric,  -- a fraction: 0.25 = 25 % of valor_contrato
            parcelas_prosoluto bigint NOT NULL,
            primeiro_vencimento date,
            ultimo_vencimento date,
            comissao_total numeric(18,2) NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX prosoluto_idempreendimento_idx ON core.prosoluto (idempreendimento)")
    op.execute(
        "COMMENT ON TABLE core.prosoluto IS 'One row per sale with payment conditions: financed part, pró-soluto "
        "part (paid to the incorporadora), its instalments and due dates, and the active commissions. Rebuilt "
        "whole by the prosoluto asset (CVDW has no endpoint for it).'"
    )
    # The VSO reconstruction joins sales to units and distratos to sales.
    op.execute("CREATE INDEX reservas_idunidade_idx ON core.reservas (idunidade) WHERE ativo = 'S'")
    op.execute("CREATE INDEX reservas_condicoes_idreserva_idx ON core.reservas_condicoes (idreserva)")
    op.execute("CREATE INDEX distratos_idreserva_idx ON core.distratos (idreserva)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS core.distratos_idreserva_idx")
    op.execute("DROP INDEX IF EXISTS core.reservas_condicoes_idreserva_idx")
    op.execute("DROP INDEX IF EXISTS core.reservas_idunidade_idx")
    # KPI views built on core.prosoluto go with it; the next kpi materialization recreates the others.
    op.execute("DROP TABLE IF EXISTS core.prosoluto CASCADE")
    op.execute("DROP TABLE IF EXISTS core.prosoluto_series")
    op.execute("DROP FUNCTION IF EXISTS core.normaliza_serie(text)")
