"""MCP tests: real PostgreSQL with the hand-computed KPI fixture, the web app on a real uvicorn on loopback
(lifespan on, so /mcp runs), and the SDK's own client over streamable HTTP, stdio or in-process."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx2
import pytest
import requests
import sqlalchemy as sa
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from organizer_pipeline.db import urls
from organizer_pipeline.kpi import build
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline.web.app import create_app
from organizer_pipeline_tests.conftest import TEMPLATE_DB, create_database, drop_database
from organizer_pipeline_tests.enrichment.conftest import openrouter_server  # noqa: F401 (a shared fixture)
from organizer_pipeline_tests.kpi import fixture

TOKEN = "mcp-test-token-0123456789"
T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]]) -> T:
    return anyio.run(main)


@pytest.fixture(scope="session")
def kpi_template(pg_server, template_url) -> Iterator[str]:
    """A database with the hand-computed KPI fixture and every kpi view built, once per session."""
    name = f"{TEMPLATE_DB}_kpi"
    url = create_database(pg_server, name, template=TEMPLATE_DB)
    engine = sa.create_engine(urls.render(url), poolclass=sa.pool.NullPool)
    fixture.insert(engine)
    build.build_all(engine)
    engine.dispose()
    yield name
    drop_database(pg_server, name)


@pytest.fixture
def kpi_data(pg_server, kpi_template, db_url, engine):
    """The test's own database, replaced by a copy of the KPI template (what fixture.insert + build_all
    make, in a fraction of the time)."""
    create_database(pg_server, db_url.database, template=kpi_template)
    engine.dispose()
    return engine


@pytest.fixture
def web(db_url, monkeypatch) -> Iterator[str]:
    """Root URL of the web app (with /mcp running) serving the test's database, token configured."""
    monkeypatch.setenv("ORGANIZER_API_TOKEN", TOKEN)
    with serve_in_thread(create_app(urls.render(db_url)), lifespan="on") as root:
        yield root


@contextlib.asynccontextmanager
async def http_client(root: str, token: str | None = TOKEN) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(f"{root}/mcp", http_client=http)) as client:
            yield client


def stdio_params(db_url, **env: str) -> StdioServerParameters:
    """`organizer mcp` (the installed console script) as a subprocess against the test's database."""
    organizer = Path(sys.executable).with_name("organizer")
    return StdioServerParameters(
        command=str(organizer), args=["mcp"], env={"DATABASE_URL": urls.render(db_url), **env}
    )


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """structuredContent of a successful call (fails the test on a tool error, showing its text)."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def tool_error(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text


def bi_api(root: str, view: str, **params: Any) -> dict[str, Any]:
    response = requests.get(
        f"{root}/api/kpis/{view}", params=params, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def audit_lines(engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(row)
            for row in conn.execute(
                sa.text(
                    "SELECT actor, action, subject, detail FROM ops.audit_log WHERE action LIKE 'mcp.%' ORDER BY id"
                )
            ).mappings()
        ]
