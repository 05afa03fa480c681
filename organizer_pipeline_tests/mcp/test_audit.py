"""Every call over /mcp leaves exactly one ops.audit_log line (`mcp.<tool>`): the tool, a SHA-256 of the
arguments, the rows answered, ok or the kind of error — never the arguments themselves."""

from __future__ import annotations

import hashlib
import json

from organizer_pipeline_tests.mcp.conftest import audit_lines, call, http_client, run, tool_error

SECRET_TEXT = "comprador joao.silva@gmail.com CPF 123.456.789-09"


def digest(arguments: dict) -> str:
    text = json.dumps(arguments, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def test_every_call_is_audited_once_without_its_arguments(kpi_data, web, monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)

    async def main() -> dict:
        async with http_client(web) as client:
            return {
                "page": await call(client, "kpi_query", view="vendas", limit=2),
                "bad_view": await tool_error(client, "kpi_query", view="nope"),
                "over_cap": await tool_error(client, "kpi_query", view="vendas", limit=5000),
                "unknown": await tool_error(client, "drop_everything", table="core.reservas"),
                "search": await tool_error(client, "perfis_buscar", texto=SECRET_TEXT),
                "sale": await tool_error(client, "hotmart_venda", transaction="HP-" + SECRET_TEXT[:20]),
                "resource": (await client.read_resource("kpi://views/vendas")).contents[0].text,
            }

    got = run(main)
    assert got["over_cap"] == (
        "Error executing tool kpi_query: argumento inválido: limit: Input should be less than or equal to 1000"
    )
    lines = audit_lines(kpi_data)
    assert [
        (line["action"], line["detail"]["ok"], line["detail"]["error"], line["detail"]["rows"])
        for line in lines
    ] == [
        ("mcp.kpi_query", True, None, 2),
        ("mcp.kpi_query", False, "tool_error", 0),
        ("mcp.kpi_query", False, "invalid_arguments", 0),
        ("mcp.unknown_tool", False, "unknown_tool", 0),
        ("mcp.perfis_buscar", False, "tool_error", 0),
        ("mcp.hotmart_venda", False, "tool_error", 0),
        ("mcp.resource", True, None, 1),
    ]
    assert all(line["actor"] == "mcp:http" and line["detail"]["transport"] == "http" for line in lines)
    assert lines[0]["detail"]["args_sha256"] == digest({"view": "vendas", "limit": 2})
    assert lines[4]["detail"]["args_sha256"] == digest({"texto": SECRET_TEXT})
    assert lines[3]["subject"] == "drop_everything" and lines[6]["subject"] == "kpi://views/vendas"
    written = json.dumps(lines, default=str)
    assert "joao" not in written and "123.456" not in written and "core.reservas" not in written
