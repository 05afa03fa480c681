"""/mcp on a real uvicorn on loopback: the bearer token as for /api/*, the SDK's own client, kpi_query
against GET /api/kpis/<view>, and the per-token request budget shared by two app instances (= workers)."""

from __future__ import annotations

import pytest
import requests
import sqlalchemy as sa

from organizer_pipeline.db import urls
from organizer_pipeline.mcp import ratelimit
from organizer_pipeline.mcp.pii import mask_value
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline.web.app import create_app
from organizer_pipeline_tests.mcp.conftest import TOKEN, audit_lines, bi_api, call, http_client, run

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

# (view, filters): the BI API's parameters, sent to kpi_query as typed arguments
CASES = [
    ("vendas_mensal", {}),
    ("vendas_mensal", {"de": "2025-01", "ate": "2025-01"}),
    ("vendas", {"de": "2025-01-20", "ate": "2025-01-25"}),
    ("vendas", {"empreendimento": 20}),
    ("comissoes_mensal", {"de": "2025-02", "empreendimento": 10}),
    ("comissoes_corretor", {}),
    ("vso_mensal", {"empreendimento": 10}),
    ("estoque_unidades", {"empreendimento": 20}),
    ("hotmart_receita_diaria", {"de": "2025-01-11", "ate": "2025-01-11"}),
    ("hotmart_funil", {}),
]


def post(root: str, token: str | None) -> requests.Response:
    headers = {**MCP_HEADERS, **({"Authorization": f"Bearer {token}"} if token else {})}
    return requests.post(f"{root}/mcp", json=PING, headers=headers, timeout=10)


def test_mcp_needs_the_bearer_token(kpi_data, web):
    assert post(web, None).status_code == 401
    wrong = post(web, "not-the-token")
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert post(web, TOKEN).status_code == 200

    async def without_token() -> None:
        async with http_client(web, token=None) as client:
            await client.call_tool("kpi_views", {})

    with pytest.raises(BaseException, match="unhandled errors"):  # the SDK client cannot even connect
        run(without_token)
    assert audit_lines(kpi_data) == []  # nothing ran


def test_mcp_is_disabled_without_a_configured_token(db_url, monkeypatch):
    monkeypatch.delenv("ORGANIZER_API_TOKEN", raising=False)
    with serve_in_thread(create_app(urls.render(db_url)), lifespan="on") as root:
        refused = post(root, "anything")
        assert refused.status_code == 503 and "ORGANIZER_API_TOKEN" in refused.json()["error"]


def test_kpi_query_returns_the_rows_of_the_bi_api(kpi_data, web):
    async def main() -> list[dict]:
        async with http_client(web) as client:
            return [await call(client, "kpi_query", view=view, **filters) for view, filters in CASES]

    answers = run(main)
    for (view, filters), mcp in zip(CASES, answers, strict=True):
        api = bi_api(web, view, **filters)
        assert (mcp["view"], mcp["columns"], mcp["count"]) == (api["view"], api["columns"], api["count"])
        assert mcp["count"] > 0, (view, filters)  # every case has fixture rows: equality is not vacuous
        assert mcp["next_offset"] is None and api["next"] is None
        personal = {"cliente", "idcliente"} if view == "vendas" else set()
        for mine, theirs in zip(mcp["data"], api["data"], strict=True):
            assert {k: v for k, v in mine.items() if k not in personal} == {
                k: v for k, v in theirs.items() if k not in personal
            }
            assert all(mine[k] == mask_value(theirs[k]) for k in personal)
    cliente = answers[2]["data"][0]["cliente"]
    assert cliente == "C*** 2***"  # "Cliente 2" masked: PII stays out by default


def test_personal_data_is_shown_only_with_organizer_mcp_pii(kpi_data, web, monkeypatch):
    async def sales() -> list[dict]:
        async with http_client(web) as client:
            return (await call(client, "kpi_query", view="vendas"))["data"]

    api = bi_api(web, "vendas")["data"]
    masked = run(sales)
    assert [row["cliente"] for row in masked] != [row["cliente"] for row in api]
    monkeypatch.setenv("ORGANIZER_MCP_PII", "1")
    assert run(sales) == api  # the very same rows as the BI API, names included


def test_kpi_query_pages_like_the_bi_api(kpi_data, web):
    async def walk() -> list[dict]:
        pages, offset = [], 0
        async with http_client(web) as client:
            while offset is not None:
                page = await call(client, "kpi_query", view="vendas", limit=2, offset=offset)
                pages.append(page)
                offset = page["next_offset"]
        return pages

    pages = run(walk)
    assert [page["count"] for page in pages] == [2, 2, 1]
    api_ids = []
    for offset in (0, 2, 4):
        api = bi_api(web, "vendas", limit=2, offset=offset)
        api_ids.append([row["idreserva"] for row in api["data"]])
        assert (api["next"] is None) == (offset == 4)
    assert [[row["idreserva"] for row in page["data"]] for page in pages] == api_ids == [[1, 2], [3, 4], [7]]


def test_budget_is_per_token_and_shared_between_workers(db_url, engine, monkeypatch):
    monkeypatch.setenv("ORGANIZER_API_TOKEN", TOKEN)
    monkeypatch.setenv("ORGANIZER_MCP_RATE_PER_MINUTE", "4")
    url = urls.render(db_url)
    with (
        serve_in_thread(create_app(url), lifespan="on") as one,
        serve_in_thread(create_app(url), lifespan="on") as two,
    ):
        statuses = [post(root, TOKEN).status_code for root in (one, two, one, two)]
        refused = post(one, TOKEN)
        assert statuses == [200, 200, 200, 200] and refused.status_code == 429
        assert int(refused.headers["retry-after"]) == 15  # 4/min refills one every 15 s
        assert post(two, TOKEN).status_code == 429  # the other worker sees the same empty bucket
        assert post(two, "wrong").status_code == 401  # no budget spent on a wrong token
        with engine.begin() as conn:  # 15 s later, as far as the bucket can tell
            conn.execute(sa.text("UPDATE ops.mcp_rate_limits SET updated_at = updated_at - interval '15 s'"))
        assert post(two, TOKEN).status_code == 200
    with engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT token_sha256 FROM ops.mcp_rate_limits")).scalars().all()
    assert keys == [ratelimit.token_key(TOKEN)] and TOKEN not in keys[0]


def test_budget_refills_at_its_rate_and_zero_means_unlimited(engine):
    assert [ratelimit.take(engine, "t1", 2).allowed for _ in range(3)] == [True, True, False]
    assert ratelimit.take(engine, "t2", 2).allowed  # another token, another bucket
    with engine.begin() as conn:  # 30 s later: one request's worth (2/min) is back, not more
        conn.execute(
            sa.text(
                "UPDATE ops.mcp_rate_limits SET updated_at = updated_at - interval '30 s' WHERE token_sha256 = :k"
            ),
            {"k": ratelimit.token_key("t1")},
        )
    assert [ratelimit.take(engine, "t1", 2).allowed for _ in range(2)] == [True, False]
    assert all(ratelimit.take(engine, "t1", 0).allowed for _ in range(5))


def test_oversized_body_is_refused(web):
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"_meta": {"pad": "x" * 300_000}}}
    assert requests.post(f"{web}/mcp", json=body, headers=headers, timeout=10).status_code == 413
