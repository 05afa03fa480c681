"""Bearer-token protection for /api/*: constant-time comparison, never the token in a log."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from organizer_pipeline import settings

Endpoint = Callable[[Request], Awaitable[Response]]


def token_matches(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def require_api_token(endpoint: Endpoint) -> Endpoint:
    """401 without the right `Authorization: Bearer <ORGANIZER_API_TOKEN>`; 503 when no token is configured."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        expected = settings.env("ORGANIZER_API_TOKEN")
        if not expected:
            return JSONResponse(
                {"error": "the API is disabled: set ORGANIZER_API_TOKEN to enable it"}, status_code=503
            )
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token_matches(token.strip(), expected):
            return JSONResponse(
                {"error": "missing or wrong bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await endpoint(request)

    return guarded
