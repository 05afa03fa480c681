"""GET /health: the app answers, says whether the warehouse does (503 when it doesn't), and shows the last
result of the hourly `db_health` job (migrations, inbox backlog, CVDW freshness…) under `db_health`."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.ops.health import latest_results


def _probe_database(request: Request) -> dict:
    try:
        engine = request.app.state.engine()
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except (sa.exc.SQLAlchemyError, OrganizerError) as error:
        first_line = str(getattr(error, "orig", None) or error).strip().splitlines()
        return {"database": "error", "database_error": first_line[0] if first_line else type(error).__name__}
    try:
        last = latest_results(engine)
    except sa.exc.SQLAlchemyError:
        last = None  # e.g. migrations not applied yet: the probe above already answers the main question
    return {"database": "ok", "db_health": last}


async def health(request: Request) -> JSONResponse:
    """200 while the database answers, even if the last db_health run found a problem: that is reported in
    `db_health.ok` for monitoring, while restarts (container healthchecks) key on the status code."""
    result = {
        "status": "ok",
        "app": "organizer_pipeline",
        **await run_in_threadpool(_probe_database, request),
    }
    if result["database"] != "ok":
        result["status"] = "degraded"
    return JSONResponse(result, status_code=200 if result["database"] == "ok" else 503)


routes = [Route("/health", health, methods=["GET"])]
