"""The web app: Hotmart webhook receiver, health, dashboard and the BI API (Starlette under uvicorn)."""

from __future__ import annotations

import functools

from sqlalchemy.engine import Engine
from starlette.applications import Starlette

from organizer_pipeline.db.engine import get_engine, read_only, warehouse_url
from organizer_pipeline.web import api_kpis, api_profiles, dashboard, health, webhook
from organizer_pipeline.web.metrics import endpoint as metrics


def create_app(database_url: str | None = None) -> Starlette:
    """`database_url` None: DATABASE_URL or the embedded server, resolved on first use (so the app starts
    and /health can say 503 even when the database is down)."""

    @functools.cache
    def engine() -> Engine:
        return get_engine(database_url or warehouse_url())

    app = Starlette(
        routes=[
            *health.routes,
            *webhook.routes,
            *dashboard.routes,
            *api_kpis.routes,
            *api_profiles.routes,
            *metrics.routes,
        ]
    )
    app.state.engine = engine  # writers: the webhook inbox, the profile search's spend ledger
    app.state.reader_engine = lambda: read_only(engine())  # readers: dashboard, BI API, metrics
    return app
