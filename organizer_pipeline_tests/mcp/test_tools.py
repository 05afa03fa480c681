"""What each tool answers, over the SDK's in-process client, checked against the hand-computed KPI fixture
(organizer_pipeline_tests/kpi/fixture.py), real Hotmart events through the state machine, and profiles
embedded by the OpenRouter simulator."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from mcp import Client

from organizer_pipeline.hotmart.processing import process_pending
from organizer_pipeline.mcp.pii import mask_value
from organizer_pipeline.mcp.server import build_server
from organizer_pipeline.ops import health
from organizer_pipeline_tests.enrichment.test_search import seed_profiles
from organizer_pipeline_tests.hotmart.helpers import store
from organizer_pipeline_tests.hotmart.test_processing import _purchase_pair
from organizer_pipeline_tests.kpi import fixture
from organizer_pipeline_tests.mcp.conftest import call, run, tool_error


def ask(engine, tool: str, **arguments: Any) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        async with Client(build_server(lambda: engine, "test")) as client:
            return await call(client, tool, **arguments)

    return run(main)


def refused(engine, tool: str, **arguments: Any) -> str:
    async def main() -> str:
        async with Client(build_server(lambda: engine, "test")) as client:
            return await tool_error(client, tool, **arguments)

    return run(main)


def test_vendas_resumo_compares_with_the_previous_period(kpi_data):
    february = ask(kpi_data, "vendas_resumo", period="2025-02")
    assert february["periodo"] == {"de": "2025-02-01", "ate": "2025-02-28"}
    assert (february["vendas"], february["vgv"], february["ticket_medio"]) == (2, 630000.0, 315000.0)
    previous = february["anterior"]
    assert previous["periodo"] == {"de": "2025-01-01", "ate": "2025-01-31"}
    assert (previous["vendas"], previous["vgv"], previous["ticket_medio"]) == (3, 950000.5, 316666.83)
    assert february["variacao"] == {"vendas": -0.3333, "vgv": -0.3368, "ticket_medio": -0.0053}


def test_vendas_resumo_of_an_empreendimento_by_its_exact_name(kpi_data):
    beta = ask(kpi_data, "vendas_resumo", period="2025-01..2025-02", empreendimento="torre beta")
    assert beta["empreendimento"] == {"id": 20, "nome": "Torre Beta"}
    assert beta["por_mes"] == [
        {"mes": "2025-01-01", "vendas": 1, "vgv": 450000.5},
        {"mes": "2025-02-01", "vendas": 1, "vgv": 380000.0},
    ]
    assert (beta["vendas"], beta["vgv"]) == (2, 830000.5)
    assert beta["anterior"]["vendas"] == 0 and beta["variacao"]["vendas"] is None  # nothing to compare with
    assert ask(kpi_data, "vendas_resumo", period="2025-01", empreendimento=20)["vgv"] == 450000.5
    for wrong in ("Beta", "Jardim das Águas", 99):  # a substring is not a match
        message = refused(kpi_data, "vendas_resumo", period="2025-01", empreendimento=wrong)
        assert "não encontrado" in message and "10 = Residencial Alfa; 20 = Torre Beta" in message


def test_top_corretores_by_commission(kpi_data):
    ranking = ask(kpi_data, "top_corretores", period="2025", n=5)["corretores"]
    expected = fixture.EXPECTED_COMISSOES
    assert [(b["corretor"], b["comissao_total"], b["vendas"], b["ranking"]) for b in ranking] == [
        (name, float(total), sales, rank) for name, (total, sales, rank) in expected.items()
    ]
    assert [b["corretor"] for b in ask(kpi_data, "top_corretores", period="2025-02", n=1)["corretores"]] == [
        "Carla"
    ]
    assert "período inválido" in refused(kpi_data, "top_corretores", period="outubro")


def test_vso_series_and_period_value(kpi_data):
    alfa = ask(kpi_data, "vso", empreendimento=10, months=2)
    assert [
        (m["mes"], m["vendidas"], m["estoque_inicial"], m["lancadas"], m["distratos"], m["vso"])
        for m in alfa["meses"]
    ] == [
        (mes, *(float(x) if i == 4 else x for i, x in enumerate(fixture.EXPECTED_VSO[(mes, 10)])))
        for mes in (fixture.JAN, fixture.FEB)
    ]
    assert (alfa["vso"], alfa["estoque_inicial"], alfa["lancadas"]) == (0.4, 4, 1)  # (3 - 1) / (4 + 1)
    everything = ask(kpi_data, "vso", months=12)
    assert everything["vso"] == float(fixture.EXPECTED_TOTALS["vso"])
    months = sorted(mes for mes, project in fixture.EXPECTED_VSO if project is None)
    assert all(month["total"] for month in everything["meses"])
    assert [month["mes"] for month in everything["meses"]] == months  # reconstructed months included
    assert [month["estoque_fonte"] for month in everything["meses"]] == [
        fixture.EXPECTED_VSO_FONTE[mes] for mes in months
    ]
    assert ask(kpi_data, "vso", months=1)["vso"] == float(fixture.EXPECTED_VSO[(fixture.FEB, None)][4])


def test_hotmart_receita_with_refund_rate(kpi_data):
    january = ask(kpi_data, "hotmart_receita", period="2025-01")
    [brl] = january["moedas"]
    assert (brl["moeda"], brl["vendas"], brl["receita_bruta"], brl["receita_liquida_produtor"]) == (
        "BRL",
        4,
        800.0,
        170.0,
    )
    assert (brl["reembolsos"], brl["valor_reembolsado"], brl["taxa_reembolso"]) == (2, 600.0, 0.5)
    assert {
        p["product_id"]: (p["vendas"], p["reembolsos"], p["taxa_reembolso"]) for p in january["por_produto"]
    } == {
        1: (3, 1, 0.3333),
        2: (1, 1, 1.0),
    }
    mentoria = ask(kpi_data, "hotmart_receita", period="2025", produto="mentoria b")
    assert mentoria["produto"] == {"id": 2, "nome": "Mentoria B"}
    assert [(m["vendas"], m["receita_bruta"], m["taxa_reembolso"]) for m in mentoria["moedas"]] == [
        (2, 1000.0, 0.5)
    ]


def test_hotmart_venda_shows_the_state_machine_history(engine, monkeypatch):
    approved, refunded = _purchase_pair("PURCHASE_REFUNDED", "REFUNDED")
    late = dict(approved, id="late-retry", creation_date=refunded["creation_date"] + 1000)
    for event in (refunded, approved, late):  # out of order, with a late APPROVED after the refund
        store(engine, [event])
        process_pending(engine)
    transaction = approved["data"]["purchase"]["transaction"]
    sale = ask(engine, "hotmart_venda", transaction=transaction)
    assert (sale["status"], sale["estado_final"], sale["proximos_status_possiveis"]) == ("REFUNDED", True, [])
    assert [(s["event"], s["applied"], s["previous_status"]) for s in sale["historico"]] == [
        ("PURCHASE_APPROVED", True, None),
        ("PURCHASE_REFUNDED", True, "APPROVED"),
        ("PURCHASE_APPROVED", False, "REFUNDED"),
    ]
    email = approved["data"]["buyer"]["email"].lower()  # contacts are keyed by the lower-cased e-mail
    assert sale["comprador"] == mask_value(email) and email not in str(sale)
    monkeypatch.setenv("ORGANIZER_MCP_PII", "1")
    assert ask(engine, "hotmart_venda", transaction=transaction)["comprador"] == email


def test_perfis_buscar_through_the_enrichment_search(engine, openrouter_server, monkeypatch):
    seed_profiles(engine, openrouter_server)
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    monkeypatch.setenv("OPENROUTER_BASE_URL", f"{openrouter_server.url}/api/v1")
    found = ask(engine, "perfis_buscar", texto="reembolso solicitado", n=3)["perfis"]
    assert found[0]["email"] == "a***@e***.com" and "arrependido" not in str(found)
    assert [p["distance"] for p in found] == sorted(p["distance"] for p in found)
    with engine.connect() as conn:  # the one write a tool makes: the embedding's cost line, for the budget
        assert (
            conn.execute(sa.text("SELECT count(*) FROM ai.llm_calls WHERE purpose = 'search'")).scalar() == 1
        )
    monkeypatch.setenv("ORGANIZER_MCP_PII", "1")
    assert ask(engine, "perfis_buscar", texto="reembolso solicitado", n=1)["perfis"][0]["email"] == (
        "arrependido@example.com"
    )
    monkeypatch.delenv("OPENROUTER_API_KEY")
    assert "OPENROUTER_API_KEY" in refused(engine, "perfis_buscar", texto="reembolso")


def test_saude_reports_health_backlog_and_freshness(engine):
    empty = ask(engine, "saude")
    assert empty["db_health"] is None and empty["inbox_backlog"]["ok"] and empty["ok"]
    health.record_results(engine, [health.CheckResult("migrations", True, detail="at head")])
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO hotmart.webhook_inbox (event_id, event, payload, received_at) "
                "VALUES ('stuck', 'PURCHASE_APPROVED', '{}', now() - interval '1 hour')"
            )
        )
    answer = ask(engine, "saude")
    assert answer["db_health"]["checks"]["migrations"]["ok"] is True
    assert answer["inbox_backlog"]["ok"] is False and answer["inbox_backlog"]["value"] == 1.0
    assert answer["ok"] is False and answer["cvdw_freshness"]["name"] == "cvdw_freshness"


def test_kpi_views_lists_the_registry_and_what_is_built(engine):
    before = {view["name"]: view for view in ask(engine, "kpi_views")["views"]}
    assert before["vendas_mensal"]["built"] is False and before["vendas_mensal"]["columns"] is None
    assert "has not been built yet" in refused(engine, "kpi_query", view="vendas_mensal")
    assert "ainda não foi criada" in refused(engine, "vendas_resumo", period="2025-01")
    fixture.insert(engine)
    from organizer_pipeline.kpi import build

    build.build_all(engine)
    after = {view["name"]: view for view in ask(engine, "kpi_views")["views"]}
    from organizer_pipeline.kpi.views import VIEWS

    assert list(after) == [view.name for view in VIEWS] and all(view["built"] for view in after.values())
    monthly = after["vendas_mensal"]
    assert {"name": "ticket_medio", "type": "numeric"} in monthly["columns"]
    assert (monthly["period_column"], monthly["empreendimento_filter"]) == ("mes", True)
    assert monthly["resource"] == "kpi://views/vendas_mensal"
