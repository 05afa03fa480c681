"""Read-only by construction: SQL in arguments is data, a write is refused by PostgreSQL itself (even when
the object a tool reads tries one), the statement timeout holds, and the pooled connection comes back clean."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from mcp import Client

from organizer_pipeline.mcp import readonly
from organizer_pipeline.mcp.readonly import read_only
from organizer_pipeline.mcp.server import build_server
from organizer_pipeline_tests.mcp.conftest import audit_lines, call, http_client, run, tool_error

INJECTION = "x'; DROP TABLE core.reservas; DELETE FROM hotmart.sales; --"
CRAFTED = [
    ("kpi_query", {"view": "vendas; DROP TABLE core.reservas"}),
    ("kpi_query", {"view": 'vendas" WHERE 1=1; DELETE FROM core.reservas; --'}),
    ("kpi_query", {"view": "../../core.reservas"}),
    ("kpi_query", {"view": "vendas", "de": INJECTION[:10]}),
    ("kpi_query", {"view": "vendas", "empreendimento": "1 OR 1=1"}),
    ("vendas_resumo", {"period": INJECTION[:40]}),
    ("vendas_resumo", {"period": "2025-01", "empreendimento": INJECTION}),
    ("top_corretores", {"period": "2025-01'--"}),
    ("vso", {"empreendimento": INJECTION}),
    ("hotmart_receita", {"period": "2025-01", "produto": INJECTION}),
    ("hotmart_venda", {"transaction": INJECTION}),
]
KEPT_APART = ("ops.audit_log", "ops.mcp_rate_limits")  # what a call legitimately writes


def snapshot(engine) -> dict[str, str]:
    """Every relation of our schemas, and a digest of the rows of every table and materialized view."""
    with engine.connect() as conn:
        relations = conn.execute(
            sa.text(
                "SELECT format('%I.%I', n.nspname, c.relname), c.relkind FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname IN ('raw', 'core', 'hotmart', 'ai', 'kpi', 'ops', 'public') ORDER BY 1"
            )
        ).all()
        state = {}
        for name, kind in relations:
            if kind in ("r", "m") and name not in KEPT_APART:
                digest = f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {name} t"  # noqa: S608
                state[name] = conn.execute(sa.text(digest)).scalar()
            else:
                state[name] = kind
    return state


def test_sql_in_any_argument_is_a_tool_error_that_changes_nothing(kpi_data, web):
    before = snapshot(kpi_data)
    assert before["core.reservas"] and before["hotmart.sales"]

    async def main() -> list[str]:
        async with http_client(web) as client:
            return [await tool_error(client, tool, **arguments) for tool, arguments in CRAFTED]

    errors = run(main)
    assert snapshot(kpi_data) == before
    for (tool, _), text in zip(CRAFTED, errors, strict=True):
        assert text.startswith(f"Error executing tool {tool}: ") and "\n" not in text, text
        assert "Traceback" not in text and "psycopg2" not in text
    assert "unknown view" in errors[0] and "empreendimento" in errors[6] and "produto" in errors[9]
    assert "argumento inválido: empreendimento" in errors[4]  # the input schema refused a non-integer id
    assert len(audit_lines(kpi_data)) == len(CRAFTED)


def test_a_write_is_refused_even_when_the_view_a_tool_reads_tries_one(kpi_data, web):
    """The crafted argument names a view an attacker redefined to write: the READ ONLY transaction refuses."""
    with kpi_data.begin() as conn:
        conn.execute(sa.text("CREATE TABLE public.trap_hits (at timestamptz DEFAULT now())"))
        conn.execute(
            sa.text(
                """
                CREATE FUNCTION public.trap() RETURNS TABLE (corretor text, ranking int) LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO public.trap_hits DEFAULT VALUES;
                    DELETE FROM core.reservas;
                    RETURN QUERY SELECT 'x'::text, 1;
                END $$
                """
            )
        )
        conn.execute(sa.text("DROP VIEW kpi.comissoes_corretor"))
        conn.execute(sa.text("CREATE VIEW kpi.comissoes_corretor AS SELECT * FROM public.trap()"))
    with kpi_data.connect() as conn:  # the trap is real: outside the guard it writes
        conn.execute(sa.text("SELECT * FROM public.trap()"))
        assert conn.execute(sa.text("SELECT count(*) FROM public.trap_hits")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM core.reservas")).scalar() == 0
        conn.rollback()
    before = snapshot(kpi_data)

    async def main() -> str:
        async with http_client(web) as client:
            return await tool_error(client, "kpi_query", view="comissoes_corretor")

    assert (
        run(main)
        == "Error executing tool kpi_query: escrita recusada: as ferramentas MCP são somente leitura"
    )
    assert snapshot(kpi_data) == before


WRITES = [
    "INSERT INTO ops.audit_log (actor, action) VALUES ('x', 'y')",
    "UPDATE core.reservas SET valor_contrato = 0",
    "DELETE FROM hotmart.sales",
    "TRUNCATE core.reservas",
    "CREATE TABLE public.nope (a int)",
    "SELECT nextval('ops.audit_log_id_seq')",
    "SET TRANSACTION READ WRITE",
]


def test_the_guard_refuses_every_kind_of_write(engine):
    for statement in WRITES:
        with read_only(engine) as conn:
            assert conn.execute(sa.text("SHOW transaction_read_only")).scalar() == "on"
            with pytest.raises(sa.exc.DBAPIError) as raised:
                conn.execute(sa.text(statement))
        # read_only_sql_transaction, or active_sql_transaction for trying to switch back to READ WRITE
        assert raised.value.orig.pgcode in ("25006", "25001"), statement


def test_statement_timeout_is_a_one_line_tool_error_and_the_pool_comes_back_clean(kpi_data, monkeypatch):
    with kpi_data.begin() as conn:
        conn.execute(sa.text("DROP VIEW kpi.comissoes_corretor"))
        conn.execute(
            sa.text(
                "CREATE VIEW kpi.comissoes_corretor AS SELECT 'x'::text AS corretor, 1 AS ranking FROM pg_sleep(3)"
            )
        )
    monkeypatch.setattr(readonly, "STATEMENT_TIMEOUT_MS", 200)

    async def main() -> tuple[str, dict]:
        async with Client(build_server(lambda: kpi_data, "test")) as client:
            slow = await tool_error(client, "kpi_query", view="comissoes_corretor")
            return slow, await call(client, "kpi_query", view="vendas_mensal", limit=1)

    slow, fine = run(main)
    assert slow == (
        "Error executing tool kpi_query: a consulta passou do limite de 0.2 s; restrinja o período ou o filtro"
    )
    assert fine["count"] == 1
    with kpi_data.connect() as conn:  # the pooled connection is an ordinary one again
        assert conn.execute(sa.text("SHOW transaction_read_only")).scalar() == "off"
        assert conn.execute(sa.text("SHOW statement_timeout")).scalar() != "200ms"
