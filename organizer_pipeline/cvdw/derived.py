"""The tables CVDW has no endpoint for, rebuilt whole from the core tables: empreendimentos, tipologias and
prosoluto (the seed system's "cálculos de comissão").

Plain SQL and plain functions; the assets in `cvdw/assets.py` are thin wrappers. A rebuild is one statement that
upserts what changed (unchanged rows are not rewritten) and, where rows can disappear, deletes them in the same
statement: readers never see a half-built or empty table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from organizer_pipeline.cvdw.checks import Outcome

EMPREENDIMENTOS_SQL = """
INSERT INTO core.empreendimentos AS e (referencia, idempreendimento, nome, regiao, unidades_total,
                                       unidades_disponiveis)
SELECT idempreendimento::text, idempreendimento, coalesce(u.nome, r.nome), r.regiao,
       coalesce(u.total, 0), coalesce(u.disponiveis, 0)
FROM (SELECT idempreendimento, max(empreendimento) AS nome, count(*) AS total,
             count(*) FILTER (WHERE situacao_mapa_disponibilidade = 1) AS disponiveis
      FROM core.unidades WHERE idempreendimento IS NOT NULL GROUP BY idempreendimento) u
FULL JOIN (SELECT idempreendimento, max(empreendimento) AS nome, max(regiao) AS regiao
           FROM core.reservas WHERE idempreendimento IS NOT NULL GROUP BY idempreendimento) r
     USING (idempreendimento)
ON CONFLICT (idempreendimento) DO UPDATE SET
    nome = EXCLUDED.nome, regiao = EXCLUDED.regiao, unidades_total = EXCLUDED.unidades_total,
    unidades_disponiveis = EXCLUDED.unidades_disponiveis, updated_at = now()
WHERE (e.nome, e.regiao, e.unidades_total, e.unidades_disponiveis)
      IS DISTINCT FROM (EXCLUDED.nome, EXCLUDED.regiao, EXCLUDED.unidades_total, EXCLUDED.unidades_disponiveis)
"""

TIPOLOGIAS_SQL = """
WITH fresh AS (
    SELECT idempreendimento, tipologia, count(*) AS unidades_total,
           round(avg(area_privativa), 2) AS area_privativa_media, round(avg(valor), 2) AS valor_medio
    FROM core.unidades WHERE idempreendimento IS NOT NULL AND tipologia IS NOT NULL
    GROUP BY idempreendimento, tipologia
), removed AS (
    DELETE FROM core.tipologias t
    WHERE NOT EXISTS (SELECT 1 FROM fresh f
                      WHERE f.idempreendimento = t.idempreendimento AND f.tipologia = t.tipologia)
)
INSERT INTO core.tipologias AS t (idempreendimento, tipologia, unidades_total, area_privativa_media, valor_medio)
SELECT * FROM fresh
ON CONFLICT (idempreendimento, tipologia) DO UPDATE SET
    unidades_total = EXCLUDED.unidades_total, area_privativa_media = EXCLUDED.area_privativa_media,
    valor_medio = EXCLUDED.valor_medio, updated_at = now()
WHERE (t.unidades_total, t.area_privativa_media, t.valor_medio)
      IS DISTINCT FROM (EXCLUDED.unidades_total, EXCLUDED.area_privativa_media, EXCLUDED.valor_medio)
"""

# One row per sale (the seed's rule: ativo = 'S' and data_venda set) that has active payment conditions.
# A series' `valor` is its whole value ("valor da condição", contracts/cvdw.md §5.2), nominal: valor_com_juros
# adds the incorporadora's interest, which is financial income, not price, and valor_contrato is nominal too.
# `parcela_quantidade` splits that value into instalments: it is counted, never multiplied. Financing =
# the series listed in core.prosoluto_series with financiamento; every other series is pró-soluto.
PROSOLUTO_COLUMNS = (
    "referencia", "idempreendimento", "valor_contrato", "valor_financiado", "valor_prosoluto",
    "percentual_prosoluto", "parcelas_prosoluto", "primeiro_vencimento", "ultimo_vencimento", "comissao_total",
)  # fmt: skip
MAX_INSTALMENTS = 1200  # a series with more (100 years monthly) is not a real plan: no last due date for it
PROSOLUTO_SQL = f"""
WITH sales AS (
    SELECT DISTINCT ON (idreserva) idreserva, referencia, idempreendimento, valor_contrato
    FROM core.reservas
    WHERE ativo = 'S' AND data_venda IS NOT NULL AND idreserva IS NOT NULL
    ORDER BY idreserva, referencia
), names AS (  -- normalise each distinct spelling once, not every row
    SELECT n.serie, s.financiamento, s.meses_entre_parcelas
    FROM (SELECT DISTINCT serie FROM core.reservas_condicoes) AS n
    JOIN core.prosoluto_series AS s ON s.serie = core.normaliza_serie(n.serie)
), series AS (
    SELECT c.idreserva, coalesce(n.financiamento, false) AS financiamento, c.valor, c.vencimento,
           greatest(coalesce(c.parcela_quantidade, 1), 1)::bigint AS parcelas,
           coalesce(n.meses_entre_parcelas, 1) AS meses
    FROM core.reservas_condicoes AS c
    LEFT JOIN names AS n ON n.serie = c.serie
    WHERE c.ativo IS DISTINCT FROM 'N' AND c.idreserva IS NOT NULL
), per_sale AS (
    SELECT idreserva,
           coalesce(sum(valor) FILTER (WHERE financiamento), 0) AS valor_financiado,
           coalesce(sum(valor) FILTER (WHERE NOT financiamento), 0) AS valor_prosoluto,
           coalesce(sum(parcelas) FILTER (WHERE NOT financiamento), 0) AS parcelas_prosoluto,
           min(vencimento) FILTER (WHERE NOT financiamento) AS primeiro_vencimento,
           max(CASE WHEN parcelas <= {MAX_INSTALMENTS}
                    THEN (vencimento + make_interval(months => ((parcelas - 1) * meses)::int))::date END)
               FILTER (WHERE NOT financiamento) AS ultimo_vencimento
    FROM series GROUP BY idreserva
), commissions AS (
    SELECT idreserva, sum(valor_comissao) AS comissao_total
    FROM core.comissoes WHERE ativo = 'S' AND idreserva IS NOT NULL GROUP BY idreserva
), fresh AS (
    SELECT s.idreserva, s.referencia, s.idempreendimento, s.valor_contrato, p.valor_financiado,
           p.valor_prosoluto, round(p.valor_prosoluto / nullif(s.valor_contrato, 0), 4) AS percentual_prosoluto,
           p.parcelas_prosoluto, p.primeiro_vencimento, p.ultimo_vencimento,
           coalesce(c.comissao_total, 0) AS comissao_total
    FROM sales AS s JOIN per_sale AS p USING (idreserva) LEFT JOIN commissions AS c USING (idreserva)
), removed AS (
    DELETE FROM core.prosoluto AS t WHERE NOT EXISTS (SELECT 1 FROM fresh AS f WHERE f.idreserva = t.idreserva)
)
INSERT INTO core.prosoluto AS t (idreserva, {", ".join(PROSOLUTO_COLUMNS)})
SELECT idreserva, {", ".join(PROSOLUTO_COLUMNS)} FROM fresh
ON CONFLICT (idreserva) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in PROSOLUTO_COLUMNS)}, updated_at = now()
WHERE ({", ".join(f"t.{c}" for c in PROSOLUTO_COLUMNS)})
      IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in PROSOLUTO_COLUMNS)})
"""  # noqa: S608 - built from the constant column list above


ADD_SERIES = (
    "If one is bank financing, add it: INSERT INTO core.prosoluto_series (serie, financiamento) "
    "VALUES (core.normaliza_serie('<name>'), true)"
)


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    evaluate: Callable[[Connection], Outcome]


@dataclass(frozen=True)
class DerivedTable:
    name: str  # asset key
    table: str
    deps: tuple[str, ...]  # the CVDW assets it is built from
    description: str
    statement: str
    checks: tuple[Check, ...] = ()


def rebuild(engine: Engine, derived: DerivedTable) -> tuple[int, int]:
    """Bring the table up to date with its sources in one transaction: (rows inserted or changed, rows now)."""
    with engine.begin() as conn:
        changed = conn.execute(sa.text(derived.statement)).rowcount
        total = conn.execute(sa.text(f"SELECT count(*) FROM {derived.table}")).scalar_one()  # noqa: S608
    return changed, total


def _listing(items: list[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def projects_with_sales_have_units(conn: Connection) -> Outcome:
    rows = conn.execute(
        sa.text(
            """
            SELECT e.idempreendimento, coalesce(e.nome, '') AS nome FROM core.empreendimentos AS e
            WHERE EXISTS (SELECT 1 FROM core.reservas AS r WHERE r.idempreendimento = e.idempreendimento
                          AND r.ativo = 'S' AND r.data_venda IS NOT NULL)
              AND NOT EXISTS (SELECT 1 FROM core.unidades AS u WHERE u.idempreendimento = e.idempreendimento
                              AND u.ativo IS DISTINCT FROM 'N')
            ORDER BY e.idempreendimento
            """
        )
    ).all()
    names = [f"{row.idempreendimento} {row.nome}".strip() for row in rows]
    return Outcome(
        "projects_with_sales_have_units",
        not rows,
        f"{len(rows)} empreendimento(s) with sales but no units: {_listing(names)} (load unidades)"
        if rows
        else "every empreendimento with sales has units",
        {"without_units": len(rows)},
        warn_only=True,
    )


def units_have_a_tipologia(conn: Connection) -> Outcome:
    missing, total = conn.execute(
        sa.text(
            "SELECT count(*) FILTER (WHERE tipologia IS NULL), count(*) FROM core.unidades "
            "WHERE ativo IS DISTINCT FROM 'N' AND idempreendimento IS NOT NULL"
        )
    ).one()
    return Outcome(
        "units_have_a_tipologia",
        missing == 0,
        f"{missing} of {total} unit(s) have no tipologia and are left out of core.tipologias",
        {"without_tipologia": missing, "units": total},
        warn_only=True,
    )


def series_known(conn: Connection) -> Outcome:
    """Series of the sales in core.prosoluto that core.prosoluto_series does not know (counted as pró-soluto)."""
    rows = conn.execute(
        sa.text(
            """
            WITH unknown AS (  -- each distinct spelling normalised once
                SELECT n.serie, core.normaliza_serie(n.serie) AS normalizada
                FROM (SELECT DISTINCT serie FROM core.reservas_condicoes) AS n
                WHERE NOT EXISTS (SELECT 1 FROM core.prosoluto_series AS s
                                  WHERE s.serie = core.normaliza_serie(n.serie))
            )
            SELECT u.normalizada AS serie, min(c.serie) AS exemplo, count(*) AS linhas,
                   count(DISTINCT c.idreserva) AS vendas
            FROM core.reservas_condicoes AS c
            JOIN unknown AS u ON u.serie IS NOT DISTINCT FROM c.serie
            JOIN core.prosoluto AS p ON p.idreserva = c.idreserva
            WHERE c.ativo IS DISTINCT FROM 'N'
            GROUP BY 1 ORDER BY 3 DESC, 1
            """
        )
    ).all()
    names = [
        f"'{row.serie or ''}' (e.g. {row.exemplo!r}: {row.linhas} row(s), {row.vendas} sale(s))"
        for row in rows
    ]
    return Outcome(
        "series_known",
        not rows,
        f"{len(rows)} unknown payment series counted as pró-soluto: {_listing(names)}. {ADD_SERIES}"
        if rows
        else "every payment series is in core.prosoluto_series",
        {"unknown_series": [row.serie for row in rows], "rows": sum(row.linhas for row in rows)},
        warn_only=True,
    )


def condicoes_match_contract(conn: Connection) -> Outcome:
    """The series of a sale should add up to its contract value: when they do not, pró-soluto % is off (or the
    tenant's `valor` means something else than the whole series, see docs/cvdw.md)."""
    mismatched, sales, examples = conn.execute(
        sa.text(
            """
            SELECT count(*) FILTER (WHERE off), count(*),
                   coalesce((array_agg(idreserva ORDER BY idreserva) FILTER (WHERE off))[1:5], '{}')
            FROM (SELECT idreserva, abs(valor_financiado + valor_prosoluto - valor_contrato)
                                    > greatest(0.01 * valor_contrato, 1) AS off
                  FROM core.prosoluto WHERE valor_contrato > 0) AS p
            """
        )
    ).one()
    return Outcome(
        "condicoes_match_contract",
        mismatched == 0,
        f"{mismatched} of {sales} sale(s) whose series differ from valor_contrato by more than 1 % "
        f"(e.g. idreserva {', '.join(map(str, examples))})"
        if mismatched
        else f"the series of all {sales} sale(s) add up to valor_contrato (±1 %)",
        {"mismatched": mismatched, "sales": sales},
        warn_only=True,
    )


EMPREENDIMENTOS = DerivedTable(
    "empreendimentos",
    "core.empreendimentos",
    ("unidades", "reservas"),
    "Empreendimentos (projects) with their unit counts. CVDW has NO endpoint for them (contract §7.4): "
    "derived from core.unidades (units, availability) and core.reservas (projects with sales but no unit "
    "rows, regiao).",
    EMPREENDIMENTOS_SQL,
    (
        Check(
            "projects_with_sales_have_units",
            "every empreendimento with sales has units in core.unidades",
            projects_with_sales_have_units,
        ),
    ),
)
TIPOLOGIAS = DerivedTable(
    "tipologias",
    "core.tipologias",
    ("unidades",),
    "Tipologias (unit types) per empreendimento with unit count, mean private area and mean price. CVDW has "
    "NO endpoint for them: derived from the `tipologia` of core.unidades.",
    TIPOLOGIAS_SQL,
    (Check("units_have_a_tipologia", "every unit has a tipologia", units_have_a_tipologia),),
)
PROSOLUTO = DerivedTable(
    "prosoluto",
    "core.prosoluto",
    ("reservas", "reservas_condicoes", "comissoes"),
    "Pró-soluto per sale: how much of the price the buyer pays the incorporadora directly (ato, sinal, "
    "mensais, intercaladas, chaves…) against bank financing (financiamento, FGTS, subsídio), with instalments, "
    "due dates and the sale's active commissions. CVDW has NO endpoint for it: derived from "
    "core.reservas_condicoes, core.reservas and core.comissoes; financing series are listed in "
    "core.prosoluto_series.",
    PROSOLUTO_SQL,
    (
        Check(
            "series_known", "every payment series is known (unknown ones count as pró-soluto)", series_known
        ),
        Check(
            "condicoes_match_contract",
            "the series of each sale add up to its valor_contrato (±1 %)",
            condicoes_match_contract,
        ),
    ),
)
TABLES = (EMPREENDIMENTOS, TIPOLOGIAS, PROSOLUTO)
