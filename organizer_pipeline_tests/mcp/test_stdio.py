"""`organizer mcp` spawned as a subprocess (the installed console script) and driven by the SDK's own stdio
client, against the test's database with the KPI fixture."""

from __future__ import annotations

from mcp import Client

from organizer_pipeline_tests.mcp.conftest import (
    audit_lines,
    bi_api,
    call,
    run,
    stdio_params,
    tool_error,
)

TOOLS = {
    "kpi_views",
    "kpi_query",
    "vendas_resumo",
    "top_corretores",
    "vso",
    "hotmart_receita",
    "hotmart_venda",
    "perfis_buscar",
    "saude",
}


def test_stdio_answers_like_the_bi_api_masks_and_audits(kpi_data, web, db_url):
    async def main() -> dict:
        async with Client(stdio_params(db_url)) as client:
            listed = await client.list_tools()
            return {
                "tools": {tool.name: tool for tool in listed.tools},
                "monthly": await call(client, "kpi_query", view="vendas_mensal", de="2025-02", ate="2025-02"),
                "sales": await call(client, "kpi_query", view="vendas", empreendimento=10),
                "injected": await tool_error(client, "kpi_query", view="vendas; DROP TABLE core.reservas --"),
                "brokers": await call(client, "top_corretores", period="2025-Q1", n=2),
            }

    got = run(main)
    assert set(got["tools"]) == TOOLS
    schema = got["tools"]["kpi_query"].input_schema
    assert set(schema["properties"]) == {"view", "de", "ate", "empreendimento", "limit", "offset"}
    assert schema["required"] == ["view"] and got["tools"]["kpi_query"].output_schema["required"]
    assert got["monthly"]["data"] == bi_api(web, "vendas_mensal", de="2025-02", ate="2025-02")["data"]
    api_sales = bi_api(web, "vendas", empreendimento=10)["data"]
    assert [row["idreserva"] for row in got["sales"]["data"]] == [row["idreserva"] for row in api_sales]
    assert {row["cliente"] for row in api_sales} == {"Cliente 1", "Cliente 2", "Cliente 4"}
    assert {row["cliente"] for row in got["sales"]["data"]} == {"C*** 1***", "C*** 2***", "C*** 4***"}
    assert got["injected"].startswith("Error executing tool kpi_query: unknown view")
    assert "Traceback" not in got["injected"] and "\n" not in got["injected"]
    assert [b["corretor"] for b in got["brokers"]["corretores"]] == ["Ana", "Bruno"]
    lines = audit_lines(kpi_data)
    assert [(line["actor"], line["action"]) for line in lines] == [
        ("mcp:stdio", "mcp.kpi_query"),
        ("mcp:stdio", "mcp.kpi_query"),
        ("mcp:stdio", "mcp.kpi_query"),
        ("mcp:stdio", "mcp.top_corretores"),
    ]
    assert [line["detail"]["rows"] for line in lines] == [3, 3, 0, 2]
    assert lines[2]["detail"]["error"] == "tool_error" and "DROP" not in str(lines)
