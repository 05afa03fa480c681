import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.kpi import build, views
from organizer_pipeline_tests.kpi import fixture


def rows(engine, sql):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql))]


def day(text):
    return date.fromisoformat(text)


@pytest.fixture
def built(engine):
    fixture.insert(engine)
    build.build_all(engine)
    return engine


def test_vendas_follows_the_sale_rule(built):
    got = rows(built, "SELECT idreserva FROM kpi.vendas ORDER BY idreserva")
    assert [r["idreserva"] for r in got] == [1, 2, 3, 4, 7]


def test_vendas_mensal(built):
    got = {
        (r["mes"], r["idempreendimento"] if not r["total"] else None): (
            r["vendas"],
            r["vgv"],
            r["ticket_medio"],
        )
        for r in rows(built, "SELECT * FROM kpi.vendas_mensal")
    }
    assert got == {(day(m), e): v for (m, e), v in fixture.EXPECTED_VENDAS_MENSAL.items()}
    names = rows(built, "SELECT empreendimento FROM kpi.vendas_mensal WHERE total ORDER BY mes")
    assert {r["empreendimento"] for r in names} == {"Todos os empreendimentos"}


def test_comissoes_corretor(built):
    got = {
        r["corretor"]: (r["comissao_total"], r["vendas"], r["ranking"])
        for r in rows(built, "SELECT * FROM kpi.comissoes_corretor")
    }
    assert got == fixture.EXPECTED_COMISSOES


def vso_rows(engine):
    return {
        (r["mes"], None if r["total"] else r["idempreendimento"]): r
        for r in rows(engine, "SELECT * FROM kpi.vso_mensal")
    }


def test_vso_mensal(built):
    got = {
        key: (r["vendidas"], r["estoque_inicial"], r["lancadas"], r["distratos"], r["vso"])
        for key, r in vso_rows(built).items()
    }
    assert got == {(day(m), e): v for (m, e), v in fixture.EXPECTED_VSO.items()}


def test_vso_from_day_one_and_where_both_methods_meet(built):
    """Months before the first daily snapshot are reconstructed from the sales history; in the snapshot months
    the reconstruction gives the snapshot's own stock and launches."""
    got = vso_rows(built)
    assert {mes: r["estoque_fonte"] for (mes, _), r in got.items()} == {
        day(m): fonte for m, fonte in fixture.EXPECTED_VSO_FONTE.items()
    }
    for (mes, project), (stock, launched) in fixture.EXPECTED_VSO_RECONSTRUIDO.items():
        row = got[(day(mes), project)]
        assert (row["estoque_inicial_reconstruido"], row["lancadas_reconstruidas"]) == (stock, launched)
        assert (row["estoque_inicial"], row["lancadas"]) == (stock, launched)  # the snapshot's values


def test_vso_without_any_snapshot_is_reconstructed_from_current_units(built):
    """A fresh install that only backfilled history: no snapshot at all. Every unit of core.unidades appears with
    its empreendimento (105 and 204 too), a unit blocked now (203) is blocked all along."""
    with built.begin() as conn:
        conn.execute(sa.text("DELETE FROM core.unidades_situacao_diaria"))
    build.build(built, views.get("vso_mensal"))
    got = {
        key: (r["estoque_fonte"], r["estoque_inicial"], r["lancadas"], r["vso"])
        for key, r in vso_rows(built).items()
        if key[1] is not None
    }
    assert got == {
        (day(fixture.NOV), 10): ("reconstruido", 0, 5, Decimal("0.0000")),  # 101-105 launched on 20 Nov
        (day(fixture.DEC), 10): ("reconstruido", 5, 0, Decimal("0.0000")),
        (day(fixture.JAN), 10): ("reconstruido", 5, 0, Decimal("0.4000")),  # 2 / 5
        (day(fixture.FEB), 10): ("reconstruido", 3, 0, Decimal("0.0000")),  # 5 - 101, 102; (1 - 1) / 3
        (day(fixture.DEC), 20): ("reconstruido", 0, 3, Decimal("0.0000")),  # 201, 202, 204 (203 blocked)
        (day(fixture.JAN), 20): ("reconstruido", 3, 0, Decimal("0.3333")),  # 1 / 3
        (day(fixture.FEB), 20): ("reconstruido", 2, 0, Decimal("0.5000")),  # 3 - 201; 1 / 2
    }


def test_a_distrato_gives_the_unit_back_to_the_offer(built):
    """Unit 103 is sold on 5 Feb and the sale undone by a distrato on 20 Feb: on 1 March it is offer again (and
    resold on 10 March); 104 is sold on 2 April. No snapshot after February: both months are reconstructed."""
    with built.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO core.reservas (referencia, idreserva, ativo, data_venda, data_cad, idempreendimento, "
                "idunidade, valor_contrato, row_hash) VALUES ('8', 8, 'S', '2025-03-10', '2025-03-01', 10, 103, "
                "260000, 'h'), ('9', 9, 'S', '2025-04-02', '2025-04-01', 10, 104, 270000, 'h')"
            )
        )
    for name in ("vendas", "vendas_mensal", "vso_mensal"):
        build.build(built, views.get(name))
    got = vso_rows(built)
    march, april = got[(day("2025-03-01"), 10)], got[(day("2025-04-01"), 10)]
    # 1 March: 103, 104, 105 are free (103's sale was undone on 20 Feb) -> 3; 1 April: 104, 105 -> 2
    assert (march["estoque_fonte"], march["estoque_inicial"], march["vendidas"], march["vso"]) == (
        "reconstruido", 3, 1, Decimal("0.3333"),
    )  # fmt: skip
    assert (april["estoque_inicial"], april["vendidas"], april["vso"]) == (2, 1, Decimal("0.5000"))


def test_prosoluto_per_sale(built):
    got = {
        r["idreserva"]: (
            r["valor_contrato"], r["valor_financiado"], r["valor_prosoluto"], r["percentual_prosoluto"],
            r["parcelas_prosoluto"], r["primeiro_vencimento"].isoformat(), r["ultimo_vencimento"].isoformat(),
            r["comissao_total"],
        )
        for r in rows(built, "SELECT * FROM core.prosoluto")
    }  # fmt: skip
    assert got == fixture.EXPECTED_PROSOLUTO


def test_valor_prosoluto_is_the_sum_of_the_non_financing_series(built):
    """Must show (#11.4): per sale, straight from the series rows and the series table."""
    got = rows(
        built,
        """
        SELECT p.idreserva, p.valor_prosoluto,
               sum(c.valor) FILTER (WHERE s.financiamento IS NOT TRUE) AS nao_financiado
        FROM core.prosoluto p
        JOIN core.reservas_condicoes c ON c.idreserva = p.idreserva AND c.ativo = 'S'
        LEFT JOIN core.prosoluto_series s ON s.serie = core.normaliza_serie(c.serie)
        GROUP BY p.idreserva, p.valor_prosoluto
        """,
    )
    assert len(got) == len(fixture.EXPECTED_PROSOLUTO)
    assert all(r["valor_prosoluto"] == r["nao_financiado"] for r in got)


def test_prosoluto_mensal(built):
    got = {
        (r["mes"], None if r["total"] else r["idempreendimento"]): (
            r["vendas"], r["vendas_com_condicoes"], r["vgv"], r["vgv_com_condicoes"], r["valor_prosoluto"],
            r["valor_financiado"], r["percentual_prosoluto"],
        )
        for r in rows(built, "SELECT * FROM kpi.prosoluto_mensal")
    }  # fmt: skip
    assert got == {(day(m), e): v for (m, e), v in fixture.EXPECTED_PROSOLUTO_MENSAL.items()}


def months_ago(today, months):
    """First day of the month `months` before today's month."""
    index = today.year * 12 + today.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def test_months_to_sell_out(engine):
    """Stock now ÷ mean net sales of the last 3 whole months. Empreendimento 30 (dates relative to today):
    10 units, 4 in stock (1 available, 1 reserved, 1 'em processo', 1 available), 1 blocked, 5 sold; sales 2, 1
    and 2 in the three months before this one, a distrato in one of them, one sale this month (not counted)
    -> net 4 -> 4 / 3 a month -> 4 ÷ (4/3) = 3.0 months."""
    today = rows(engine, "SELECT (now() AT TIME ZONE 'America/Sao_Paulo')::date AS d")[0]["d"]
    situations = [1, 2, 5, 1, 4, 3, 3, 3, 3, 3]
    sales = [(months_ago(today, 3), 301), (months_ago(today, 3), 302), (months_ago(today, 2), 303),
             (months_ago(today, 1), 304), (months_ago(today, 1), 305), (months_ago(today, 0), 306),
             (months_ago(today, 5), 307)]  # fmt: skip
    with engine.begin() as conn:
        for i, situation in enumerate(situations, start=301):
            conn.execute(
                sa.text(
                    "INSERT INTO core.unidades (referencia, idunidade, idempreendimento, empreendimento, "
                    "situacao_mapa_disponibilidade, row_hash) VALUES (:r, :u, 30, 'Gama', :s, 'h')"
                ),
                {"r": str(i), "u": i, "s": situation},
            )
        for n, (month, unit) in enumerate(sales, start=1):
            conn.execute(
                sa.text(
                    "INSERT INTO core.reservas (referencia, idreserva, ativo, data_venda, idempreendimento, "
                    "empreendimento, idunidade, valor_contrato, row_hash) VALUES (:r, :n, 'S', :d, 30, 'Gama', "
                    ":u, 1000, 'h')"
                ),
                {"r": str(n), "n": n, "d": month.replace(day=2), "u": unit},
            )
        conn.execute(
            sa.text(
                "INSERT INTO core.distratos (referencia, idreserva, ativo, situacao_data, idempreendimento, "
                "row_hash) VALUES ('d', 3, 'S', :d, 30, 'h')"
            ),
            {"d": months_ago(today, 2).replace(day=20)},
        )
    for name in ("vendas", "estoque_empreendimento"):
        build.build(engine, views.get(name))
    (row,) = rows(engine, "SELECT * FROM kpi.estoque_empreendimento")
    assert (row["idempreendimento"], row["empreendimento"], row["unidades"], row["estoque"]) == (
        30,
        "Gama",
        10,
        4,
    )
    assert (row["vendas_liquidas_3m"], row["media_mensal_3m"], row["meses_para_vender"]) == (
        4, Decimal("1.33"), Decimal("3.0"),
    )  # fmt: skip
    assert (row["janela_inicio"], row["janela_fim"]) == (
        months_ago(today, 3), months_ago(today, 0) - timedelta(days=1),
    )  # fmt: skip


def test_months_to_sell_out_without_recent_sales_is_null(built):
    got = {
        r["idempreendimento"]: (r["estoque"], r["vendas_liquidas_3m"], r["meses_para_vender"])
        for r in rows(built, "SELECT * FROM kpi.estoque_empreendimento")
    }
    assert got == {10: (3, 0, None), 20: (1, 0, None)}  # fixture sales are in 2025: nothing in the window


def test_estoque_unidades(built):
    got = {
        (r["idempreendimento"], r["situacao_codigo"]): (r["situacao"], r["unidades"], r["valor_total"])
        for r in rows(built, "SELECT * FROM kpi.estoque_unidades")
    }
    assert got == fixture.EXPECTED_ESTOQUE


def test_hotmart_receita_diaria(built):
    got = {
        (r["dia"], r["product_id"]): (
            r["vendas"],
            r["receita_bruta"],
            r["receita_liquida_produtor"],
            r["reembolsos"],
            r["taxa_reembolso"],
        )
        for r in rows(built, "SELECT * FROM kpi.hotmart_receita_diaria")
    }
    assert got == {(day(d), p): v for (d, p), v in fixture.EXPECTED_HOTMART_DIARIA.items()}


def test_hotmart_funil(built):
    got = {
        r["product_id"]: (r["abandonos"], r["compradores"], r["recuperados"], r["taxa_conversao"])
        for r in rows(built, "SELECT * FROM kpi.hotmart_funil")
    }
    assert got == fixture.EXPECTED_FUNIL


def test_empty_database_gives_empty_views(engine):
    results = build.build_all(engine)
    assert {r.view: r.row_count for r in results} == {v.name: 0 for v in views.VIEWS}
    assert [r.action for r in results] == ["created"] * len(views.VIEWS)
    again = build.build_all(engine)  # CONCURRENTLY on empty materialized views
    assert {r.action for r in again} == {"refreshed", "unchanged"} and all(r.row_count == 0 for r in again)


def test_rebuild_refreshes_and_sees_new_rows(built):
    again = {r.view: r for r in build.build_all(built)}
    assert again["vendas"].action == "unchanged" and again["vendas_mensal"].action == "refreshed"
    with built.begin() as conn:
        conn.execute(sa.text("UPDATE core.reservas SET valor_contrato = 310000.00 WHERE idreserva = 1"))
    build.build(built, views.get("vendas_mensal"))
    got = rows(built, "SELECT vgv FROM kpi.vendas_mensal WHERE mes = '2025-01-01' AND total")
    assert got == [{"vgv": Decimal("960000.50")}]


def redefined(name, sql):
    """A copy of a registry view with another SQL text (and so another fingerprint)."""
    view = dataclasses.replace(views.get(name))
    view.__dict__["sql"] = sql
    view.__dict__["fingerprint"] = "changed0000000000"
    return view


def test_changed_definition_recreates_dependents(built):
    changed = redefined("vendas", views.get("vendas").sql + " AND r.valor_contrato < 400000")
    with built.begin() as conn:
        assert build.ensure_view(conn, changed) == "replaced"
    # the dependents came back in the same transaction, with the new definition's data
    got = rows(built, "SELECT vendas FROM kpi.vendas_mensal WHERE mes = '2025-01-01' AND total")
    assert got == [{"vendas": 2}]
    assert rows(built, "SELECT count(*) AS n FROM kpi.comissoes_corretor")[0]["n"] == 3


def test_foreign_dependent_is_never_dropped(built):
    with built.begin() as conn:
        conn.execute(sa.text("CREATE VIEW public.my_report AS SELECT * FROM kpi.vendas"))
    changed = redefined("vendas", views.get("vendas").sql)
    with pytest.raises(OrganizerError, match="public.my_report"), built.begin() as conn:
        build.ensure_view(conn, changed)
    assert rows(built, "SELECT count(*) AS n FROM public.my_report")[0]["n"] == 5


def test_view_comment_documents_the_formula(built):
    comment = rows(built, "SELECT obj_description('kpi.vso_mensal'::regclass, 'pg_class') AS c")[0]["c"]
    assert "(vendidas - distratos) / (estoque_inicial + lancadas)" in comment


def test_missing_upstream_view_is_a_clear_error(engine):
    with pytest.raises(OrganizerError, match="kpi.vendas, which does not exist yet"), engine.begin() as conn:
        build.ensure_view(conn, views.get("vendas_mensal"))


def test_preview_never_carries_personal_columns(built):
    result = build.build(built, views.get("vendas"))
    assert "cliente" not in result.columns and "idcliente" not in result.columns
    assert all("cliente" not in row and "idcliente" not in row for row in result.preview)
    assert result.preview[0]["idreserva"] == 1 and "corretor" in result.columns
