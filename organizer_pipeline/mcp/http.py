"""`/mcp`: the MCP server over streamable HTTP inside the web app, behind the API's bearer token
(401/503 exactly as /api/*) and a per-token request budget shared by every worker (ratelimit.py).

Stateless with JSON responses: each POST is answered on its own, so any uvicorn worker can take any
request (a session kept in one worker's memory would be lost to the others) and no SSE stream is held open.
DNS-rebinding protection (the SDK's Host/Origin allow-list) is off: it protects servers that trust any
local caller, while this one requires the bearer token, and the Host varies behind proxies.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import sqlalchemy as sa
from mcp.server.transport_security import TransportSecuritySettings
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from organizer_pipeline import settings
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.mcp import ratelimit
from organizer_pipeline.mcp.server import EngineSource, build_server
from organizer_pipeline.web.auth import bearer_token, refusal

MAX_BODY_BYTES = 256 * 1024  # a tool call is a few hundred bytes


class McpEndpoint:
    """The ASGI app mounted at /mcp. `lifespan()` must run around it (the web app's lifespan does)."""

    def __init__(self, engine: EngineSource):
        self.engine = engine
        self.server = build_server(engine, "http")
        self.server.streamable_http_app(  # creates the session manager; its own Starlette app is not used
            stateless_http=True,
            json_response=True,
            max_request_body_size=MAX_BODY_BYTES,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self.manager = self.server.session_manager
        self.running = False

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with self.manager.run():
            self.running = True
            try:
                yield
            finally:
                self.running = False

    def _budget(self, token: str) -> Response | None:
        per_minute = settings.env_int("ORGANIZER_MCP_RATE_PER_MINUTE")
        try:
            decision = ratelimit.take(self.engine(), token, per_minute)
        except (sa.exc.SQLAlchemyError, OrganizerError) as error:
            first = str(getattr(error, "orig", None) or error).strip().splitlines()
            return JSONResponse(
                {"error": f"database unavailable: {first[0] if first else error}"}, status_code=503
            )
        if decision.allowed:
            return None
        return JSONResponse(
            {
                "error": f"too many requests: at most {per_minute} per minute per token; retry in "
                f"{decision.retry_after} s"
            },
            status_code=429,
            headers={"Retry-After": str(decision.retry_after)},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        refused = refusal(headers)
        if refused is None:
            refused = await run_in_threadpool(self._budget, bearer_token(headers))
        if refused is None and not self.running:
            refused = JSONResponse(
                {"error": "MCP is not running: serve the app with its lifespan (uvicorn --lifespan on)"},
                status_code=503,
            )
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)
