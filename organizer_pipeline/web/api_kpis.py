"""GET /api/kpis (the catalogue) and GET /api/kpis/<view> (one page of a KPI view, JSON or ?format=csv) for BI
tools, behind the Bearer token. Bad input is a 400 naming the problem; a view not built yet is a 503."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.kpi import api_query
from organizer_pipeline.kpi.formatting import jsonable
from organizer_pipeline.kpi.views import VIEWS
from organizer_pipeline.web.auth import require_api_token


def _fetch(request: Request, page_request: api_query.PageRequest) -> api_query.Page:
    with request.app.state.reader_engine().connect() as conn:
        return api_query.fetch_page(conn, page_request)


def _next_url(request: Request, page_request: api_query.PageRequest) -> str:
    params = dict(request.query_params)
    params["offset"] = str(page_request.offset + page_request.limit)
    return f"{request.url.path}?{urlencode(params)}"


def _csv(page: api_query.Page) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(page.columns)
    for row in page.rows:
        writer.writerow(["" if value is None else jsonable(value) for value in row])
    return out.getvalue()


@require_api_token
async def kpi_view(request: Request) -> Response:
    try:
        page_request = api_query.parse_request(request.path_params["view"], dict(request.query_params))
    except api_query.ApiRequestError as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    try:
        page = await run_in_threadpool(_fetch, request, page_request)
    except api_query.ViewNotBuilt as error:
        return JSONResponse({"error": str(error)}, status_code=503)
    except (sa.exc.OperationalError, OrganizerError) as error:
        message = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        return JSONResponse({"error": f"database unavailable: {message}"}, status_code=503)
    next_url = _next_url(request, page_request) if page.has_more else None
    headers = {"Cache-Control": "no-store"}
    if next_url:
        headers["Link"] = f'<{next_url}>; rel="next"'
    if page_request.format == "csv":
        headers["Content-Disposition"] = (
            f'attachment; filename="{page_request.view.name}-{page_request.offset}.csv"'
        )
        return Response(_csv(page), media_type="text/csv; charset=utf-8", headers=headers)
    return JSONResponse(
        {
            "view": page_request.view.qualified,
            "description": page_request.view.description,
            "limit": page_request.limit,
            "offset": page_request.offset,
            "count": len(page.rows),
            "next": next_url,
            "columns": page.columns,
            "data": [
                {column: jsonable(value) for column, value in zip(page.columns, row, strict=True)}
                for row in page.rows
            ],
        },
        headers=headers,
    )


@require_api_token
async def catalogue(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "views": [
                {
                    "name": view.name,
                    "url": f"/api/kpis/{view.name}",
                    "description": view.description,
                    "formula": view.formula,
                    "period_filter": view.period_column,
                    "empreendimento_filter": view.project_column is not None,
                }
                for view in VIEWS
            ],
            "parameters": {
                "de": "first day, YYYY-MM-DD or YYYY-MM (views with a period column)",
                "ate": "last day, YYYY-MM-DD or YYYY-MM (a month means its last day)",
                "empreendimento": "idempreendimento (views per empreendimento)",
                "limit": f"rows per page, 1..{api_query.MAX_LIMIT} (default {api_query.DEFAULT_LIMIT})",
                "offset": "rows to skip; follow `next` (JSON) or the Link header (CSV)",
                "format": "json (default) or csv",
            },
        }
    )


routes = [
    Route("/api/kpis", catalogue, methods=["GET"]),
    Route("/api/kpis/{view}", kpi_view, methods=["GET"]),
]
