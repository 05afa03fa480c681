"""Fixtures of the ops tests: the warehouse as a Dagster resource, and a recorder standing in for an
outside HTTP endpoint (Brevo's DELETE, an alert webhook) on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from organizer_pipeline.db import urls
from organizer_pipeline.resources.warehouse import Warehouse
from organizer_pipeline.sandbox.server import serve_in_thread


@pytest.fixture
def warehouse(db_url) -> Warehouse:
    return Warehouse(database_url=urls.render(db_url))


@dataclass
class Recorder:
    """Records every request; answers from `statuses` in turn (then 2xx). `known` = Brevo contacts."""

    statuses: list[int] = field(default_factory=list)
    known: set[str] = field(default_factory=set)
    calls: list[dict] = field(default_factory=list)
    api_key: str | None = None  # when set, DELETE with another key gets Brevo's 401
    url: str = ""

    async def alert(self, request: Request) -> Response:
        self.calls.append({"method": request.method, "path": request.url.path, "json": await request.json()})
        status = self.statuses.pop(0) if self.statuses else 200
        return JSONResponse({"ok": status < 400}, status_code=status)

    async def delete_contact(self, request: Request) -> Response:
        email = request.path_params["identifier"]
        self.calls.append(
            {"method": request.method, "path": request.url.path, "key": request.headers.get("api-key")}
        )
        if self.api_key and request.headers.get("api-key") != self.api_key:
            return JSONResponse({"code": "unauthorized", "message": "Key not found"}, status_code=401)
        if email not in self.known:
            return JSONResponse(
                {"code": "document_not_found", "message": "Contact does not exist"}, status_code=404
            )
        self.known.discard(email)
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/hook", self.alert, methods=["POST"]),
                Route("/v3/contacts/{identifier}", self.delete_contact, methods=["DELETE"]),
            ]
        )


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A tiny stand-in for Brevo's DELETE /v3/contacts/{email} and for an alert webhook (until the Brevo
    simulator of the enrichment issue has a DELETE route)."""
    rec = Recorder()
    with serve_in_thread(rec.app()) as root:
        rec.url = root
        yield rec
