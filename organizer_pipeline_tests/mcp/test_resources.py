"""KPI definitions as MCP resources, generated from the registry (kpi/views.py) and the database catalogue,
so a view added to the registry is a resource with no change here."""

from __future__ import annotations

import sqlalchemy as sa
from mcp import Client

from organizer_pipeline.kpi.views import VIEWS, KpiView
from organizer_pipeline.mcp import server as mcp_server
from organizer_pipeline_tests.mcp.conftest import run


def resources(engine) -> tuple[set[str], dict[str, str]]:
    async def main() -> tuple[set[str], dict[str, str]]:
        async with Client(mcp_server.build_server(lambda: engine, "test")) as client:
            listed = {str(resource.uri) for resource in (await client.list_resources()).resources}
            texts = {uri: (await client.read_resource(uri)).contents[0].text for uri in sorted(listed)}
            return listed, texts

    return run(main)


def test_each_view_is_a_resource_with_its_formula_columns_and_sql(kpi_data):
    listed, texts = resources(kpi_data)
    assert listed == {"kpi://views"} | {f"kpi://views/{view.name}" for view in VIEWS}
    vso = texts["kpi://views/vso_mensal"]
    assert "VSO = (vendidas - distratos) / (estoque_inicial + lancadas)" in vso
    assert "| vso | numeric |" in vso and "```sql" in vso and "unidades_situacao_diaria" in vso
    assert "ticket_medio = vgv / vendas" in texts["kpi://views/vendas_mensal"]
    assert "| ticket_medio | numeric |" in texts["kpi://views/vendas_mensal"]
    assert all(f"kpi://views/{view.name}" in texts["kpi://views"] for view in VIEWS)


def test_a_view_added_to_the_registry_appears_with_its_database_comment(kpi_data, monkeypatch):
    new = KpiView(
        "distratos_mensal",
        "Distratos per month: valor_distratado = the contract value given back.",
        upstream=("reservas",),
        period_column="mes",
    )
    new.__dict__["sql"] = "SELECT date '2025-01-01' AS mes, 10.5 AS valor_distratado"  # no .sql file in a test
    with kpi_data.begin() as conn:
        conn.execute(sa.text(f"CREATE VIEW kpi.distratos_mensal AS {new.sql}"))  # noqa: S608
        conn.execute(
            sa.text(
                "COMMENT ON VIEW kpi.distratos_mensal IS "
                "'valor_distratado = Σ valor_contrato dos distratos\n[organizer kpi view 0123abcd]'"
            )
        )
    monkeypatch.setattr(mcp_server, "VIEWS", (*VIEWS, new))
    listed, texts = resources(kpi_data)
    text = texts["kpi://views/distratos_mensal"]
    assert "kpi://views/distratos_mensal" in listed and new.description in text
    assert "valor_distratado = Σ valor_contrato dos distratos" in text and "[organizer kpi" not in text
    assert "| valor_distratado | numeric |" in text
