"""GET /api/profiles/search?q=…&limit=…: the contacts whose AI profile is nearest to a text (Bearer token)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from organizer_pipeline.errors import ConfigError, DatabaseUnavailable, OrganizerError
from organizer_pipeline.resources.http import ApiError
from organizer_pipeline.web.auth import require_api_token

MAX_QUERY_CHARS = 500


@require_api_token
async def search_profiles(request: Request) -> Response:
    from organizer_pipeline.enrichment.embeddings import MAX_RESULTS, openrouter_from_env, search

    text = request.query_params.get("q", "").strip()
    if not text or len(text) > MAX_QUERY_CHARS:
        return JSONResponse({"error": f"q is required (1-{MAX_QUERY_CHARS} characters)"}, status_code=400)
    try:
        limit = int(request.query_params.get("limit", "10"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_RESULTS:
        return JSONResponse(
            {"error": f"limit must be a whole number from 1 to {MAX_RESULTS}"}, status_code=400
        )
    try:
        results = await run_in_threadpool(
            lambda: search(request.app.state.engine(), openrouter_from_env(), text, limit)
        )
    except (ConfigError, DatabaseUnavailable) as error:
        return JSONResponse({"error": str(error)}, status_code=503)
    except ApiError as error:
        return JSONResponse({"error": str(error)}, status_code=502)
    except OrganizerError as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    return JSONResponse({"query": text, "results": results})


routes = [Route("/api/profiles/search", search_profiles, methods=["GET"])]
