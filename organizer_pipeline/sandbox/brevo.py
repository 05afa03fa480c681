"""Simulator of the Brevo API v3 (contracts/brevo.md § B): it records every call and enforces the contract —
`api-key` header, attributes and lists must exist before use, upsert only with `updateEnabled`, event names
`[A-Za-z0-9_-]`, and the 10 requests/s limit with `x-sib-ratelimit-*` headers.

Knobs: `latency` (s per call), `api_key` (None: any non-empty key), `rate_limit` (requests/s, 0 = off),
`faults` (queue consumed by successive write calls: an HTTP status to answer, or "timeout_applied" — the
write is applied, then its answer held for `stall_seconds` — or "timeout_lost" — held, never applied),
`fail_writes_after` (every write after that many answers 500 — a provider outage halfway through a run),
`list_events` (False: `GET /v3/events` answers 404, as for an account or plan without it).
`app.state.sim` exposes the state."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

EVENT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
DEFAULT_ATTRIBUTES = {"FIRSTNAME": "text", "LASTNAME": "text", "SMS": "text", "EMAIL": "text"}


@dataclass
class BrevoState:
    latency: float = 0.0
    api_key: str | None = None
    rate_limit: float = 10.0
    faults: list[int | str] = field(default_factory=list)
    fail_writes_after: int | None = None
    stall_seconds: float = 2.0
    list_events: bool = True
    calls: list[dict[str, Any]] = field(default_factory=list)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ATTRIBUTES))
    lists: dict[int, dict[str, Any]] = field(default_factory=dict)
    folders: dict[int, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    event_contact_ids: list[int | None] = field(default_factory=list)  # parallel to `events`
    imports: list[dict[str, Any]] = field(default_factory=list)
    rejected_for_rate: int = 0
    writes: int = 0
    _window_start: float = 0.0
    _window_used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 1

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def admit(self) -> tuple[bool, dict[str, str]]:
        """Fixed one-second windows, as Brevo counts: (allowed, x-sib-ratelimit-* headers)."""
        if not self.rate_limit:
            return True, {}
        now = time.monotonic()
        with self._lock:
            if now - self._window_start >= 1.0:
                self._window_start, self._window_used = now, 0
            allowed = self._window_used < self.rate_limit
            if allowed:
                self._window_used += 1
            else:
                self.rejected_for_rate += 1
            remaining = int(self.rate_limit - self._window_used)
            reset = 1.0 - (now - self._window_start)
        return allowed, {
            "x-sib-ratelimit-limit": str(int(self.rate_limit)),
            "x-sib-ratelimit-remaining": str(max(remaining, 0)),
            "x-sib-ratelimit-reset": f"{max(reset, 0.0):.3f}",
        }

    def write_fault(self) -> int | str | None:
        with self._lock:
            if self.faults:
                return self.faults.pop(0)
            self.writes += 1
            if self.fail_writes_after is not None and self.writes > self.fail_writes_after:
                return 500
        return None

    def calls_to(self, method: str, path: str, ok_only: bool = False) -> list[dict[str, Any]]:
        """Calls to exactly `method path`; `ok_only` keeps those Brevo accepted (2xx)."""
        return [
            c
            for c in self.calls
            if c["method"] == method
            and c["path"] == path
            and (not ok_only or 200 <= (c["status"] or 0) < 300)
        ]

    def list_members(self, name: str) -> set[str]:
        ids = [i for i, item in self.lists.items() if item["name"] == name]
        return {email for email, c in self.contacts.items() if ids and ids[0] in c["listIds"]}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def create_app(**knobs: Any) -> Starlette:
    sim = BrevoState(**knobs)

    def check_attributes(attributes: Any) -> str | None:
        if not isinstance(attributes, dict):
            return "attributes must be an object"
        unknown = sorted(k for k in attributes if k.upper() not in sim.attributes or k != k.upper())
        return (
            f"Attribute(s) {', '.join(unknown)} do not exist (create them first, UPPER-CASE)"
            if unknown
            else None
        )

    def check_lists(ids: Any) -> str | None:
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            return "listIds must be a list of integers"
        missing = [i for i in ids if i not in sim.lists]
        return f"List(s) {missing} do not exist" if missing else None

    def sms_taken(email: str, attributes: dict[str, Any]) -> Response | None:
        """Brevo keeps SMS unique across contacts."""
        sms = attributes.get("SMS")
        if sms and any(c["attributes"].get("SMS") == sms for e, c in sim.contacts.items() if e != email):
            return _error(
                400,
                "duplicate_parameter",
                "SMS phone number is already associated with another contact. Please enter unique SMS phone "
                "number to create a new contact.",
            )
        return None

    def apply(contact: dict[str, Any], attributes: dict[str, Any], add: list[int], remove: list[int]) -> None:
        contact["attributes"].update(attributes)
        contact["listIds"] = (contact["listIds"] | set(add)) - set(remove)

    async def create_contact(body: dict[str, Any]) -> Response:
        email = str(body.get("email") or "").lower()
        if not email or "@" not in email:
            return _error(
                400, "missing_parameter", "An email or SMS phone number is mandatory to create a new contact."
            )
        for problem in (check_attributes(body.get("attributes", {})), check_lists(body.get("listIds", []))):
            if problem:
                return _error(400, "invalid_parameter", problem)
        if taken := sms_taken(email, body.get("attributes", {})):
            return taken
        existing = sim.contacts.get(email)
        if existing and not body.get("updateEnabled"):
            return _error(400, "duplicate_parameter", "Contact already exist")
        if existing:
            apply(existing, body.get("attributes", {}), body.get("listIds", []), [])
            return Response(status_code=204)
        contact = {"id": sim.new_id(), "email": email, "attributes": {}, "listIds": set()}
        apply(contact, body.get("attributes", {}), body.get("listIds", []), [])
        sim.contacts[email] = contact
        return JSONResponse({"id": contact["id"]}, status_code=201)

    async def update_contact(identifier: str, body: dict[str, Any]) -> Response:
        contact = sim.contacts.get(identifier.lower())
        if contact is None:
            return _error(404, "document_not_found", "Contact does not exist")
        for problem in (
            check_attributes(body.get("attributes", {})),
            check_lists(body.get("listIds", [])),
            check_lists(body.get("unlinkListIds", [])),
        ):
            if problem:
                return _error(400, "invalid_parameter", problem)
        if taken := sms_taken(contact["email"], body.get("attributes", {})):
            return taken
        apply(contact, body.get("attributes", {}), body.get("listIds", []), body.get("unlinkListIds", []))
        return Response(status_code=204)

    async def import_contacts(body: dict[str, Any]) -> Response:
        rows, list_ids = body.get("jsonBody"), body.get("listIds")
        if not isinstance(rows, list) or not rows:
            return _error(400, "missing_parameter", "fileUrl, fileBody or jsonBody is required")
        if problem := check_lists(list_ids):
            return _error(400, "invalid_parameter", problem)
        for row in rows:
            email = str(row.get("email") or "").lower()
            known = {k: v for k, v in (row.get("attributes") or {}).items() if k in sim.attributes}
            contact = sim.contacts.setdefault(
                email, {"id": sim.new_id(), "email": email, "attributes": {}, "listIds": set()}
            )
            apply(contact, known, list_ids, [])
        sim.imports.append({"count": len(rows), "listIds": list_ids})
        return JSONResponse({"processId": len(sim.imports)}, status_code=202)

    async def create_event(body: dict[str, Any]) -> Response:
        if not EVENT_NAME_RE.match(str(body.get("event_name") or "")):
            return _error(400, "invalid_parameter", "event_name is required and must match [A-Za-z0-9_-]")
        identifiers = body.get("identifiers")
        if not isinstance(identifiers, dict) or not identifiers:
            return _error(400, "missing_parameter", "identifiers is required")
        contact = sim.contacts.get(str(identifiers.get("email_id") or "").lower())
        sim.events.append(body)
        sim.event_contact_ids.append(contact["id"] if contact else identifiers.get("contact_id"))
        return Response(status_code=204)

    def list_events(request: Request) -> Response:
        """`GET /v3/events`: custom events, newest first, filtered by contact, name and event date."""
        if not sim.list_events:
            return _error(404, "not_found", "GET /v3/events is not available")
        query = request.query_params
        ids = {int(i) for i in query.getlist("contact_id")}
        names = set(query.getlist("event_name"))
        start, end = query.get("startDate", "0000"), query.get("endDate", "9999")
        found = [
            {
                "contact_id": contact_id,
                "event_name": body["event_name"],
                "event_date": body.get("event_date"),
                "event_properties": body.get("event_properties") or {},
            }
            for body, contact_id in zip(sim.events, sim.event_contact_ids, strict=True)
            if (not ids or contact_id in ids)
            and (not names or body["event_name"] in names)
            and start[:10] <= str(body.get("event_date") or "")[:10] <= end[:10]
        ]
        found.reverse()
        limit = int(query.get("limit", 100))
        return JSONResponse({"events": found[:limit], "count": len(found)})

    async def handle(request: Request) -> Response:
        key = request.headers.get("api-key")
        if not key or (sim.api_key is not None and key != sim.api_key):
            return _error(401, "unauthorized", "Key not found")
        allowed, headers = sim.admit()
        body: Any = {}
        if request.method in ("POST", "PUT"):
            try:
                body = await request.json()
            except ValueError:
                return _error(400, "bad_request", "the body is not JSON", headers)
        path = request.url.path.removeprefix("/v3/")
        call = {"method": request.method, "path": path, "body": body, "status": None}
        sim.calls.append(call)
        if sim.latency:
            await asyncio.sleep(sim.latency)
        if not allowed:
            response: Response = _error(429, "too_many_requests", "Rate limit exceeded", headers)
        elif request.method != "GET" and (fault := sim.write_fault()):
            if fault == "timeout_applied":
                response = await route(request.method, path, body, request)
                await asyncio.sleep(sim.stall_seconds)
            elif fault == "timeout_lost":
                await asyncio.sleep(sim.stall_seconds)
                response = _error(504, "internal_error", "gateway timeout", headers)
            else:
                kind = "internal_error" if int(fault) >= 500 else "bad_request"
                response = _error(int(fault), kind, "simulated fault", headers)
        else:
            response = await route(request.method, path, body, request)
            response.headers.update(headers)
        call["status"] = response.status_code
        return response

    async def route(method: str, path: str, body: Any, request: Request) -> Response:
        parts = path.split("/")
        if (method, path) == ("POST", "contacts"):
            return await create_contact(body)
        if (method, path) == ("POST", "contacts/import"):
            return await import_contacts(body)
        if (method, path) == ("POST", "events"):
            return await create_event(body)
        if (method, path) == ("GET", "events"):
            return list_events(request)
        if (method, path) == ("GET", "contacts/attributes"):
            return JSONResponse(
                {
                    "attributes": [
                        {"name": n, "category": "normal", "type": t} for n, t in sim.attributes.items()
                    ]
                }
            )
        if method == "POST" and parts[:3] == ["contacts", "attributes", "normal"] and len(parts) == 4:
            name = unquote(parts[3])
            if name in sim.attributes:
                return _error(400, "duplicate_parameter", "Attribute name must be unique")
            sim.attributes[name] = str(body.get("type") or "text")
            return Response(status_code=201)
        if (method, path) == ("GET", "contacts/lists"):
            offset, limit = (
                int(request.query_params.get("offset", 0)),
                int(request.query_params.get("limit", 10)),
            )
            items = [
                {"id": i, "name": v["name"], "folderId": v["folderId"]} for i, v in sorted(sim.lists.items())
            ]
            return JSONResponse({"lists": items[offset : offset + limit], "count": len(items)})
        if (method, path) == ("POST", "contacts/lists"):
            if not body.get("name") or body.get("folderId") not in sim.folders:
                return _error(400, "invalid_parameter", "name and an existing folderId are required")
            list_id = sim.new_id()
            sim.lists[list_id] = {"name": body["name"], "folderId": body["folderId"]}
            return JSONResponse({"id": list_id}, status_code=201)
        if (method, path) == ("GET", "contacts/folders"):
            return JSONResponse(
                {"folders": [{"id": i, "name": n} for i, n in sim.folders.items()], "count": len(sim.folders)}
            )
        if (method, path) == ("POST", "contacts/folders"):
            folder_id = sim.new_id()
            sim.folders[folder_id] = str(body.get("name"))
            return JSONResponse({"id": folder_id}, status_code=201)
        if parts[0] == "contacts" and len(parts) == 2:
            identifier = unquote(parts[1])
            if method == "PUT":
                return await update_contact(identifier, body)
            if method == "DELETE":
                gone = sim.contacts.pop(identifier.lower(), None)
                return (
                    Response(status_code=204)
                    if gone
                    else _error(404, "document_not_found", "Contact does not exist")
                )
            if method == "GET" and (contact := sim.contacts.get(identifier.lower())):
                return JSONResponse({**contact, "listIds": sorted(contact["listIds"])})
            return _error(404, "document_not_found", "Contact does not exist")
        return _error(404, "not_found", f"{method} /v3/{path} is not simulated")

    app = Starlette(routes=[Route("/v3/{path:path}", handle, methods=["GET", "POST", "PUT", "DELETE"])])
    app.state.sim = sim
    return app
