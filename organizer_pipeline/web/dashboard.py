"""GET /dashboard (the KPI page) and GET /static/plotly.min.js (Plotly's JS from the installed package, so
the page works offline; gzip-compressed once when the browser accepts it)."""

from __future__ import annotations

import functools
import gzip
import hashlib

import sqlalchemy as sa
from plotly import __version__ as plotly_version
from plotly.offline import get_plotlyjs
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.kpi import dashboard as pages
from organizer_pipeline.kpi import queries


def _render(request: Request, filters: queries.Filters) -> str:
    with request.app.state.reader_engine().connect() as conn:
        return pages.render_page(queries.load(conn, filters))


async def dashboard(request: Request) -> HTMLResponse:
    try:
        filters = queries.parse_filters(dict(request.query_params))
    except queries.FilterError as error:
        return HTMLResponse(pages.notice_page("Filtro inválido", str(error), error=True), status_code=400)
    try:
        page = await run_in_threadpool(_render, request, filters)
    except (sa.exc.OperationalError, OrganizerError) as error:
        message = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        return HTMLResponse(
            pages.notice_page("Banco de dados indisponível", message, error=True), status_code=503
        )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


@functools.cache
def _plotly_js() -> tuple[bytes, bytes, str]:
    body = get_plotlyjs().encode("utf-8")
    return body, gzip.compress(body, compresslevel=6), hashlib.sha256(body).hexdigest()[:16]


async def plotly_js(request: Request) -> Response:
    plain, compressed, digest = await run_in_threadpool(_plotly_js)
    etag = f'"plotly-{plotly_version}-{digest}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            compressed, media_type="text/javascript", headers={**headers, "Content-Encoding": "gzip"}
        )
    return Response(plain, media_type="text/javascript", headers=headers)


routes = [
    Route("/dashboard", dashboard, methods=["GET"]),
    Route(pages.PLOTLY_JS_PATH, plotly_js, methods=["GET"]),
]
