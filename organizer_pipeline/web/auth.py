"""Bearer-token protection for /api/* and /mcp: constant-time comparison, never the token in a log."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from organizer_pipeline import settings

Endpoint = Callable[[Request], Awaitable[Response]]


def token_matches(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(headers: Headers) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def refusal(headers: Headers) -> Response | None:
    """503 when no token is configured, 401 without the right `Authorization: Bearer <ORGANIZER_API_TOKEN>`,
    None when the request may pass."""
    expected = settings.env("ORGANIZER_API_TOKEN")
    if not expected:
        return JSONResponse(
            {"error": "the API is disabled: set ORGANIZER_API_TOKEN to enable it"}, status_code=503
        )
    if not token_matches(bearer_token(headers), expected):
        return JSONResponse(
            {"error": "missing or wrong bearer token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return None


def require_api_token(endpoint: Endpoint) -> Endpoint:
    """Guard an endpoint with `refusal`."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        return refusal(request.headers) or await endpoint(request)

    return guarded
