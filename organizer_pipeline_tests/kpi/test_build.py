import dataclasses
from datetime import date
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


def test_vso_mensal(built):
    got = {
        (r["mes"], None if r["total"] else r["idempreendimento"]): (
            r["vendidas"],
            r["estoque_inicial"],
            r["lancadas"],
            r["distratos"],
            r["vso"],
        )
        for r in rows(built, "SELECT * FROM kpi.vso_mensal")
    }
    assert got == {(day(m), e): v for (m, e), v in fixture.EXPECTED_VSO.items()}


def test_vso_is_null_without_snapshots(built):
    with built.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO core.reservas (referencia, idreserva, ativo, data_venda, idempreendimento, "
                "valor_contrato, row_hash) VALUES ('99', 99, 'S', '2024-12-15', 10, 1000, 'h')"
            )
        )
    for name in ("vendas_mensal", "vso_mensal"):  # in lineage order
        build.build(built, views.get(name))
    got = rows(built, "SELECT * FROM kpi.vso_mensal WHERE mes = '2024-12-01' AND NOT total")
    assert [(r["vendidas"], r["estoque_inicial"], r["lancadas"], r["vso"]) for r in got] == [
        (1, None, None, None)
    ]


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
