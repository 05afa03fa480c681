"""The web app: Hotmart webhook receiver, health, dashboard, the BI API and the MCP endpoint (Starlette
under uvicorn)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.routing import Route

from organizer_pipeline.db.engine import get_engine, read_only, warehouse_url
from organizer_pipeline.mcp.http import McpEndpoint
from organizer_pipeline.web import api_kpis, api_profiles, dashboard, health, webhook
from organizer_pipeline.web.metrics import endpoint as metrics


def combine(*lifespans: Callable[[], AbstractAsyncContextManager[None]]):
    """One Starlette lifespan that enters each part in order and leaves them in reverse, even on failure."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for part in lifespans:
                await stack.enter_async_context(part())
            yield

    return lifespan


def create_app(database_url: str | None = None) -> Starlette:
    """`database_url` None: DATABASE_URL or the embedded server, resolved on first use (so the app starts
    and /health can say 503 even when the database is down)."""

    @functools.cache
    def engine() -> Engine:
        return get_engine(database_url or warehouse_url())

    mcp = McpEndpoint(engine)
    app = Starlette(
        routes=[
            *health.routes,
            *webhook.routes,
            *dashboard.routes,
            *api_kpis.routes,
            *api_profiles.routes,
            *metrics.routes,
            Route("/mcp", mcp),
        ],
        lifespan=combine(mcp.lifespan),
    )
    app.state.engine = engine  # writers: the webhook inbox, the profile search's spend ledger
    app.state.reader_engine = lambda: read_only(engine())  # readers: dashboard, BI API, metrics
    return app
