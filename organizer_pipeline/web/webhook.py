"""POST /webhooks/hotmart: authenticate, bound, validate the envelope, commit it to the inbox, answer.

Store first, answer fast, process later (the inbox sensor does the rest). Hotmart deactivates a URL that
keeps failing, so every input gets a deliberate answer: 2xx once the event is durably committed (also for
repeats and unknown event types), 400/401/413 for what Hotmart should not retry, 503 when the database
cannot take the write (Hotmart retries) — never a 500. No outside call happens here.
"""

from __future__ import annotations

import hmac
import logging
import time

import psycopg2
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from organizer_pipeline import settings
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.hotmart import inbox
from organizer_pipeline.hotmart.group_commit import GroupCommitWriter
from organizer_pipeline.hotmart.payloads import EnvelopeError, decode_body, envelope
from organizer_pipeline.web.metrics.instruments import observe_webhook

log = logging.getLogger("organizer.webhook")

MAX_BODY_BYTES = 256 * 1024
POOL_SIZE = 8  # per worker process; several uvicorn workers share the server's connections
KEPT_HEADERS = ("content-type", "content-length", "user-agent", "x-forwarded-for")


class BodyTooLarge(Exception):
    def __init__(self, prefix: bytes):
        self.prefix = prefix


def _writer(request: Request) -> GroupCommitWriter:
    """This worker's inbox writer and its connection pool, made on first use."""
    state = request.app.state
    writer = getattr(state, "hotmart_inbox_writer", None)
    if writer is None:
        pool = inbox.ConnectionPool(inbox.libpq_dsn(state.engine().url), size=POOL_SIZE)
        writer = state.hotmart_inbox_writer = GroupCommitWriter(pool)
    return writer


async def _read_body(request: Request) -> bytes:
    """The body, refusing (while reading, not after) anything over MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge(b"")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        chunks.append(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge(b"".join(chunks)[: inbox.QUARANTINE_BODY_BYTES])
    return b"".join(chunks)


def _authorized(request: Request, secret: str) -> bool:
    given = request.headers.get("x-hotmart-hottok", "").encode("latin-1")
    return hmac.compare_digest(given, secret.encode("utf-8"))


def _client(request: Request) -> dict:
    return {
        "client": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent", "")[:200],
    }


async def _reject(request: Request, status: int, reason: str, body: bytes, event_id: str | None = None):
    """Keep what was refused (quarantine for bodies, an audit line otherwise), then answer."""
    headers = {name: request.headers[name][:500] for name in KEPT_HEADERS if name in request.headers}
    try:
        pool = _writer(request).pool
        if status == 401:
            await inbox.audit_line(
                pool, "hotmart.webhook_unauthorized", {"reason": reason, **_client(request)}
            )
        else:
            await inbox.quarantine(pool, status, reason, event_id, body, headers)
    except (inbox.InboxUnavailable, psycopg2.Error, OrganizerError) as error:
        log.warning(
            "hotmart webhook: could not record a %s (%s): %s", status, reason, inbox.first_line(error)
        )
    return JSONResponse({"error": reason}, status_code=status)


async def receive(request: Request) -> JSONResponse:
    secret = settings.env("HOTMART_HOTTOK")
    if not secret:
        log.error("hotmart webhook: HOTMART_HOTTOK is not set, refusing every event")
        return JSONResponse({"error": "receiver not configured"}, status_code=503)
    if not _authorized(request, secret):
        reason = "missing X-HOTMART-HOTTOK" if "x-hotmart-hottok" not in request.headers else "wrong hottok"
        return await _reject(request, 401, reason, b"")
    try:
        body = await _read_body(request)
    except BodyTooLarge as too_large:
        return await _reject(request, 413, f"body larger than {MAX_BODY_BYTES} bytes", too_large.prefix)
    except ClientDisconnect:
        return JSONResponse({"error": "client disconnected"}, status_code=400)
    try:
        document = decode_body(body)
        head = envelope(document)
    except EnvelopeError as error:
        return await _reject(request, 400, str(error), body)
    try:
        created = await _writer(request).store(
            head.event_id,
            head.event,
            head.creation_date,
            body.decode("utf-8-sig"),
            document,
        )
    except psycopg2.DataError as error:
        return await _reject(
            request, 400, f"payload not storable: {inbox.first_line(error)}", body, head.event_id
        )
    except (inbox.InboxUnavailable, psycopg2.Error, OrganizerError) as error:
        log.warning(
            "hotmart webhook: event %s not stored, answering 503: %s", head.event_id, inbox.first_line(error)
        )
        return JSONResponse({"error": "storage unavailable, retry later"}, status_code=503)
    return JSONResponse({"status": "accepted" if created else "duplicate", "id": head.event_id})


async def hotmart_webhook(request: Request) -> JSONResponse:
    started = time.perf_counter()
    try:
        response = await receive(request)
    except Exception:  # a bug must not turn into a 500 that gets the URL deactivated: Hotmart retries 503
        log.exception("hotmart webhook: unexpected failure, answering 503")
        response = JSONResponse({"error": "internal error, retry later"}, status_code=503)
    observe_webhook(response.status_code, time.perf_counter() - started)
    return response


routes = [Route("/webhooks/hotmart", hotmart_webhook, methods=["POST"])]
