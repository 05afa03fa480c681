"""GET /health: the app answers, and says whether the warehouse does (503 when it doesn't)."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from organizer_pipeline.errors import OrganizerError


def _probe_database(request: Request) -> dict:
    try:
        engine = request.app.state.engine()
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        return {"database": "ok"}
    except (sa.exc.SQLAlchemyError, OrganizerError) as error:
        first_line = str(getattr(error, "orig", None) or error).strip().splitlines()
        return {"database": "error", "database_error": first_line[0] if first_line else type(error).__name__}


async def health(request: Request) -> JSONResponse:
    result = {
        "status": "ok",
        "app": "organizer_pipeline",
        **await run_in_threadpool(_probe_database, request),
    }
    if result["database"] != "ok":
        result["status"] = "degraded"
    return JSONResponse(result, status_code=200 if result["database"] == "ok" else 503)


routes = [Route("/health", health, methods=["GET"])]
