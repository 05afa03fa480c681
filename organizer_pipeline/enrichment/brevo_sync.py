"""Brevo sync: each changed contact is upserted once per change (attributes + list membership from one
event→lists mapping, applied per sale), each Hotmart event becomes one Brevo custom event.

Every call is written to the side-effect ledger as 'sending' before it goes out and as 'sent' right after
Brevo accepts it. A call whose answer was lost (timeout, dropped connection) stays 'uncertain' and is never
repeated blindly: a contact is compared with what Brevo holds (`GET /contacts/{email}`) before it is sent
again; an event is looked for in `GET /v3/events` and sent again only when Brevo answers without it, or
stays flagged (WARN check) when Brevo cannot tell."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from organizer_pipeline.enrichment.brevo_contact import (
    ATTRIBUTES,
    Rules,
    change_hash,
    contact_attributes,
    holds,
    list_names,
    lists_for,
)
from organizer_pipeline.enrichment.store import dequeue, drop_missing, events_by_email, queued
from organizer_pipeline.enrichment.workers import exclusive, run_all
from organizer_pipeline.privacy import email_sha256, mask_email
from organizer_pipeline.resources.brevo import BrevoApi
from organizer_pipeline.resources.http import ApiBadRequest, ApiError, ApiOutcomeUnknown, ApiUnavailable

log = logging.getLogger(__name__)

LIST_FOLDER = "Hotmart Organizer"
IMPORT_CHUNK = 1000
# An event sent once more after Brevo said it does not have it; beyond that it stays flagged.
MAX_EVENT_ATTEMPTS = 3
# `GET /v3/events` counts against Brevo's 100 requests/hour for "other endpoints".
RECONCILE_PER_RUN = 20
# This many calls in a row without a reliable answer is an outage, not bad luck: the run stops, so nothing
# more is sent into it, and its re-execution looks each of them up first.
MAX_UNANSWERED_IN_A_ROW = 3


@dataclass
class Change:
    """What Brevo should hold for one contact, and what we last pushed."""

    email: str
    facts_hash: str
    attributes: dict[str, Any]
    lists: set[str]
    hash: str
    known: bool  # Brevo has the contact (we created it before): update, and leave lists
    synced_list_ids: list[int]
    queue_seq: int | None = None

    @property
    def subject(self) -> str:
        return f"contact:{email_sha256(self.email)}:{self.facts_hash}:{self.hash}"


# Queued contacts (their facts, sales or AI segment changed; ai.enrichment_queue is filled by triggers),
# fetched by key once the queue itself was read.
PENDING_CONTACTS = sa.text(
    """
    SELECT c.*, p.segment, s.change_hash AS synced_hash, ai.is_erased(c.email) AS erased,
           coalesce(s.in_brevo, false) AS in_brevo, coalesce(s.list_ids, '{}') AS synced_list_ids
    FROM hotmart.contacts c
    LEFT JOIN ai.contact_profiles p ON p.email = c.email
    LEFT JOIN ai.brevo_sync s ON s.email = c.email
    WHERE c.email = ANY(:emails) AND c.facts_hash IS NOT NULL
    """
)
# Hotmart events not sent yet (ai.brevo_event_queue, filled by a trigger), read alone first.
QUEUED_EVENTS = sa.text("SELECT event_id FROM ai.brevo_event_queue")
# Then, by key: the event, its contact's sync state and what the ledger says about it.
PENDING_EVENTS = sa.text(
    """
    SELECT k.event_id, e.event, e.occurred_at, e.email, e.transaction, e.product_id, e.product_name,
           e.offer_code, e.status, e.price, e.currency, s.status AS contact_status,
           x.status AS ledger_status, x.attempts, x.updated_at AS ledger_at,
           e.email IS NOT NULL AND ai.is_erased(e.email) AS erased
    FROM unnest(CAST(:ids AS text[])) AS k(event_id)
    LEFT JOIN hotmart.events e ON e.event_id = k.event_id
    LEFT JOIN ai.brevo_sync s ON s.email = e.email
    LEFT JOIN ai.side_effects x ON x.subject = 'event:' || k.event_id AND x.action = 'brevo_event'
    ORDER BY e.occurred_at NULLS FIRST, k.event_id
    """
)
DROP_EVENTS = sa.text("DELETE FROM ai.brevo_event_queue WHERE event_id = ANY(:ids)")
OPEN_CALLS = sa.text("SELECT count(*) FROM ai.side_effects WHERE status IN ('sending', 'uncertain')")
OPEN_CONTACT_CALLS = sa.text(
    "SELECT subject FROM ai.side_effects WHERE status IN ('sending', 'uncertain') AND action = 'brevo_contact'"
)

SYNC_SEEN = sa.text(
    "UPDATE ai.brevo_sync SET facts_hash = :facts_hash, synced_at = now() WHERE email = :email"
)
LEDGER_GET = sa.text(
    "SELECT status, attempts, updated_at FROM ai.side_effects WHERE subject = :subject AND action = :action"
)
LEDGER_SET = sa.text(
    """
    INSERT INTO ai.side_effects (subject, action, email_sha256, detail, status)
    VALUES (:subject, :action, :email_sha256, CAST(:detail AS jsonb), :status)
    ON CONFLICT (subject, action) DO UPDATE SET
        status = EXCLUDED.status,
        detail = ai.side_effects.detail || EXCLUDED.detail,
        attempts = ai.side_effects.attempts + (EXCLUDED.status = 'sending')::int,
        done_at = CASE WHEN EXCLUDED.status = 'sent' THEN now() ELSE ai.side_effects.done_at END,
        updated_at = now()
    """
)
LEDGER_DROP_SENDING = sa.text(
    "DELETE FROM ai.side_effects WHERE subject = :subject AND action = :action AND status = 'sending'"
)
SYNC_UPSERT = sa.text(
    """
    INSERT INTO ai.brevo_sync (email, change_hash, facts_hash, list_ids, status, in_brevo, last_error, synced_at)
    VALUES (:email, :change_hash, :facts_hash, CAST(:list_ids AS integer[]), :status, :in_brevo, :last_error,
            now())
    ON CONFLICT (email) DO UPDATE SET
        change_hash = EXCLUDED.change_hash, facts_hash = EXCLUDED.facts_hash,
        list_ids = CASE WHEN EXCLUDED.status = 'synced' THEN EXCLUDED.list_ids ELSE ai.brevo_sync.list_ids END,
        in_brevo = ai.brevo_sync.in_brevo OR EXCLUDED.in_brevo,
        status = EXCLUDED.status, last_error = EXCLUDED.last_error, synced_at = now()
    """
)


def ledger_set(
    conn: Connection, subject: str, action: str, email: str, status: str, detail: dict[str, Any] | None = None
) -> None:
    conn.execute(
        LEDGER_SET,
        {
            "subject": subject,
            "action": action,
            "email_sha256": email_sha256(email),
            "status": status,
            "detail": json.dumps(detail or {}),
        },
    )


def pending_changes(engine: Engine, rules: Rules) -> list[Change]:
    """Queued contacts whose Brevo state would change. Those whose Brevo state would stay the same are
    marked as seen and leave the queue."""
    with engine.begin() as conn:
        queue = queued(conn, "brevo")
        if not queue:
            return []
        found = {
            row["email"]: dict(row)
            for row in conn.execute(PENDING_CONTACTS, {"emails": list(queue)}).mappings()
        }
        drop_missing(conn, "brevo", queue, found)
        # An erased contact stays queued, untouched: a newer consent brings it back (ai.is_erased).
        rows = [
            {**found[e], "queue_seq": seq}
            for e, seq in queue.items()
            if e in found and not found[e]["erased"]
        ]
        history = events_by_email(conn, [row["email"] for row in rows])
    changes, unchanged = [], []
    for row in rows:
        attributes = contact_attributes(row, row.get("segment"))
        lists = lists_for(history.get(row["email"], []), rules)
        digest = change_hash(attributes, lists)
        if digest == row["synced_hash"]:
            unchanged.append(row)
            continue
        changes.append(
            Change(
                row["email"],
                row["facts_hash"],
                attributes,
                lists,
                digest,
                known=row["in_brevo"],
                synced_list_ids=list(row["synced_list_ids"]),
                queue_seq=row["queue_seq"],
            )
        )
    if unchanged:
        with engine.begin() as conn:
            for row in unchanged:
                conn.execute(SYNC_SEEN, {"email": row["email"], "facts_hash": row["facts_hash"]})
                dequeue(conn, "brevo", row["email"], row["queue_seq"])
    return changes


@dataclass
class SyncRun:
    pending: int = 0
    created: int = 0
    updated: int = 0
    imported: int = 0
    already_done: int = 0
    reconciled: int = 0
    rejected: int = 0
    uncertain: int = 0
    events_sent: int = 0
    events_rejected: int = 0
    events_reconciled: int = 0
    unconfirmed_total: int = 0  # ledger rows still 'sending'/'uncertain' after the run (all runs)
    failures: list[str] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)
    _unanswered_in_a_row: int = 0
    stopped: bool = False  # an outage was detected: the workers send nothing more
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name: str, problem: str | None = None, doubt: str | None = None) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)
            if problem:
                self.failures.append(problem)
            if doubt:
                self.doubts.append(doubt)
            if name in ("created", "updated", "events_sent", "events_rejected", "rejected"):
                self._unanswered_in_a_row = 0

    def unanswered(self, error: ApiOutcomeUnknown, doubt: str) -> None:
        """One more call without a reliable answer; too many in a row stop the run."""
        with self._lock:
            self.uncertain += 1
            self.doubts.append(doubt)
            self._unanswered_in_a_row += 1
            stop = self._unanswered_in_a_row >= MAX_UNANSWERED_IN_A_ROW
            self.stopped = self.stopped or stop
        if stop:
            raise ApiUnavailable(
                "Brevo",
                f"{MAX_UNANSWERED_IN_A_ROW} calls in a row got no reliable answer (last: {error}); stopped so "
                "nothing more is sent meanwhile",
            )

    def metadata(self) -> dict[str, Any]:
        names = (
            "pending",
            "created",
            "updated",
            "imported",
            "already_done",
            "reconciled",
            "rejected",
            "uncertain",
            "events_sent",
            "events_rejected",
            "events_reconciled",
            "unconfirmed_total",
        )
        return {name: getattr(self, name) for name in names}


def ensure_setup(api: BrevoApi, names: set[str]) -> dict[str, int]:
    """Create our attributes and lists when missing; list name -> id."""
    existing = api.attribute_names()
    for name, kind in ATTRIBUTES.items():
        if name not in existing:
            api.create_attribute(name, kind)
    lists = api.lists()
    missing = sorted(names - set(lists))
    if missing:
        folder = api.folder_id(LIST_FOLDER)
        for name in missing:
            lists[name] = api.create_list(name, folder)
    return lists


class BrevoSync:
    """One sync run against one Brevo account."""

    def __init__(
        self,
        engine: Engine,
        api: BrevoApi,
        rules: Rules,
        *,
        concurrency: int = 4,
        bulk_threshold: int = 200,
        events_since: datetime | None = None,
        resend_unconfirmed_after: timedelta = timedelta(minutes=15),
    ):
        self.engine, self.api, self.rules = engine, api, rules
        self.concurrency, self.bulk_threshold = concurrency, bulk_threshold
        self.events_since = events_since
        self.resend_unconfirmed_after = resend_unconfirmed_after
        self.run = SyncRun()
        self.list_ids: dict[str, int] = {}

    def _ids(self, names: set[str]) -> list[int]:
        return sorted(self.list_ids[name] for name in names)

    def _leave(self, change: Change) -> list[int]:
        return sorted(set(change.synced_list_ids) - set(self._ids(change.lists)))

    # -- the ledger ----------------------------------------------------------------------------------------
    def _ledger(self, subject: str, action: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(LEDGER_GET, {"subject": subject, "action": action}).mappings().first()
        return dict(row) if row else None

    def _mark(
        self, subject: str, action: str, email: str, status: str, detail: dict[str, Any] | None = None
    ) -> None:
        with self.engine.begin() as conn:
            ledger_set(conn, subject, action, email, status, detail)

    def _unsent(self, subject: str, action: str) -> None:
        """The call certainly did not reach Brevo (no connection, 429/503 until the retries ran out)."""
        with self.engine.begin() as conn:
            conn.execute(LEDGER_DROP_SENDING, {"subject": subject, "action": action})

    # -- contacts ------------------------------------------------------------------------------------------
    def _write(
        self,
        conn: Connection,
        change: Change,
        status: str,
        detail: dict[str, Any] | None,
        error: str | None = None,
    ) -> None:
        """Sync state, ledger and queue of one contact, in the caller's transaction."""
        if status == "synced" and detail is not None:
            ledger_set(conn, change.subject, "brevo_contact", change.email, "sent", detail)
        if status == "rejected":
            conn.execute(LEDGER_DROP_SENDING, {"subject": change.subject, "action": "brevo_contact"})
        conn.execute(
            SYNC_UPSERT,
            {
                "email": change.email,
                "change_hash": change.hash,
                "facts_hash": change.facts_hash,
                "list_ids": self._ids(change.lists) if status == "synced" else [],
                "in_brevo": status == "synced",
                "status": status,
                "last_error": error,
            },
        )
        dequeue(conn, "brevo", change.email, change.queue_seq)

    def _record(
        self, change: Change, status: str, detail: dict[str, Any] | None, error: str | None = None
    ) -> None:
        with self.engine.begin() as conn:
            self._write(conn, change, status, detail, error)

    def push_contact(self, change: Change) -> None:
        if self.run.stopped:
            return
        ledger = self._ledger(change.subject, "brevo_contact")
        if ledger and ledger["status"] == "sent":
            self._record(change, "synced", None)
            self.run.count("already_done")
            return
        if ledger and ledger["status"] in ("sending", "uncertain"):
            # A previous attempt's answer was lost: look before sending it again.
            held = self.api.get_contact(change.email)
            if holds(held, change.attributes, self._ids(change.lists), self._leave(change)):
                self._record(change, "synced", {"call": "reconciled", "status": "found in Brevo"})
                self.run.count("reconciled")
                return
        self._mark(change.subject, "brevo_contact", change.email, "sending", {"call": "upsert"})
        try:
            detail = self._send_with_sms_fallback(change)
        except ApiOutcomeUnknown as error:
            self._mark(
                change.subject, "brevo_contact", change.email, "uncertain", {"error": str(error)[:300]}
            )
            held = self.api.get_contact(change.email)
            if holds(held, change.attributes, self._ids(change.lists), self._leave(change)):
                self._record(change, "synced", {"call": "reconciled", "status": "found in Brevo"})
                self.run.count("reconciled")
                return
            # Not there (yet): the next run looks again before sending it again.
            self.run.unanswered(error, f"{mask_email(change.email)}: {error}")
            return
        except ApiUnavailable:
            self._unsent(change.subject, "brevo_contact")
            raise
        if detail is None:
            return
        self._record(change, "synced", detail)
        self.run.count("created" if detail.get("status") == 201 else "updated")

    def _send_with_sms_fallback(self, change: Change) -> dict[str, Any] | None:
        """The contact's create/update call; None when Brevo refused it (recorded)."""
        try:
            return self._send(change, change.attributes)
        except ApiBadRequest as error:
            if "SMS" not in change.attributes or "SMS" not in str(error):
                self._reject(change, error)
                return None
            # Brevo keeps SMS unique: a phone shared with another contact (family, typo) must not cost the
            # whole contact — send it without SMS.
            try:
                detail = self._send(change, {k: v for k, v in change.attributes.items() if k != "SMS"})
            except ApiBadRequest as second:
                self._reject(change, second)
                return None
            detail["sms_dropped"] = str(error)[:200]
            return detail

    def _send(self, change: Change, attributes: dict[str, Any]) -> dict[str, Any]:
        """One create/update call: PUT for a contact Brevo has (the only call that can leave lists), else
        POST with updateEnabled. Returns what the ledger keeps about it."""
        wanted = self._ids(change.lists)
        if change.known and self.api.update_contact(change.email, attributes, wanted, self._leave(change)):
            return {"call": "PUT"}
        return {"call": "POST", "status": self.api.upsert_contact(change.email, attributes, wanted)}

    def _reject(self, change: Change, error: ApiBadRequest) -> None:
        self._record(change, "rejected", None, str(error)[:500])
        self.run.count("rejected", f"{mask_email(change.email)}: {error}")
        log.warning("Brevo rejected %s: %s", mask_email(change.email), error)

    def import_new(self, changes: list[Change]) -> None:
        """New contacts in bulk: one import per set of lists (Brevo applies one listIds to a whole file)."""
        groups: dict[tuple[int, ...], list[Change]] = defaultdict(list)
        for change in changes:
            groups[tuple(self._ids(change.lists))].append(change)
        for list_ids, group in groups.items():
            if not list_ids:  # an import needs at least one list: these go one by one
                run_all(self.push_contact, group, self.concurrency)
                continue
            for start in range(0, len(group), IMPORT_CHUNK):
                self._import_chunk(group[start : start + IMPORT_CHUNK], list(list_ids))

    def _import_chunk(self, chunk: list[Change], list_ids: list[int]) -> None:
        if self.run.stopped:
            return

        def mark(status: str, detail: dict[str, Any] | None = None) -> None:
            with self.engine.begin() as conn:
                for change in chunk:
                    ledger_set(conn, change.subject, "brevo_contact", change.email, status, detail)

        mark("sending", {"call": "import"})
        rows = [{"email": c.email, "attributes": c.attributes} for c in chunk]
        try:
            process_id = self.api.import_contacts(rows, list_ids)
        except ApiOutcomeUnknown as error:
            # Each of them is compared with Brevo's copy on the next run before anything is sent again.
            mark("uncertain", {"error": str(error)[:300]})
            self.run.unanswered(error, f"import of {len(chunk)} contacts: {error}")
            return
        except ApiUnavailable:
            with self.engine.begin() as conn:
                for change in chunk:
                    conn.execute(LEDGER_DROP_SENDING, {"subject": change.subject, "action": "brevo_contact"})
            raise
        with self.engine.begin() as conn:
            for change in chunk:
                self._write(conn, change, "synced", {"call": "import", "processId": process_id})
        self.run.imported += len(chunk)

    # -- events --------------------------------------------------------------------------------------------
    @staticmethod
    def event_name(event: dict[str, Any]) -> str:
        return "hotmart_" + re.sub(r"[^A-Za-z0-9_-]", "_", str(event["event"])).lower()

    def push_event(self, event: dict[str, Any]) -> None:
        """Send one custom event: 'sending' in the ledger first, 'sent' with the queue row dropped after."""
        if self.run.stopped:
            return
        subject = f"event:{event['event_id']}"
        properties = {
            key: (float(value) if isinstance(value, Decimal) else value)
            for key in (
                "transaction",
                "product_id",
                "product_name",
                "offer_code",
                "status",
                "price",
                "currency",
            )
            if (value := event.get(key)) is not None
        }
        properties["hotmart_event_id"] = event["event_id"]  # how a lost answer is found again in Brevo
        occurred = event.get("occurred_at")
        detail: dict[str, Any] = {"event": event["event"]}
        self._mark(subject, "brevo_event", event["email"], "sending", detail)
        try:
            self.api.send_event(
                self.event_name(event), event["email"], occurred.isoformat() if occurred else None, properties
            )
        except ApiBadRequest as error:
            self._settle_event(event, "rejected", {"status": "rejected", "error": str(error)[:500]})
            self.run.count("events_rejected", f"event {event['event_id']}: {error}")
            return
        except ApiOutcomeUnknown as error:
            self._mark(subject, "brevo_event", event["email"], "uncertain", {"error": str(error)[:300]})
            self.run.unanswered(error, f"event {event['event_id']}: {error}")
            return
        except ApiUnavailable:
            self._unsent(subject, "brevo_event")
            raise
        self._settle_event(event, "sent", {})
        self.run.count("events_sent")

    def _settle_event(self, event: dict[str, Any], status: str, detail: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            ledger_set(conn, f"event:{event['event_id']}", "brevo_event", event["email"], status, detail)
            conn.execute(DROP_EVENTS, {"ids": [event["event_id"]]})

    def reconcile_event(self, event: dict[str, Any]) -> None:
        """An event whose answer was lost: found in Brevo -> sent; Brevo answers without it, long enough
        after the attempt for Brevo to have stored it -> sent again; Brevo cannot tell -> stays flagged."""
        doubt = f"event {event['event_id']}: sent, answer lost"
        if (event["attempts"] or 0) >= MAX_EVENT_ATTEMPTS:
            self.run.count("uncertain", doubt=f"{doubt}, {event['attempts']} attempts: check it in Brevo")
            return
        contact = self.api.get_contact(event["email"])
        when = event.get("occurred_at") or event["ledger_at"]
        try:
            found = contact is not None and self.api.find_event(
                int(contact["id"]),
                self.event_name(event),
                (when - timedelta(days=1)).date().isoformat(),
                (max(when, event["ledger_at"]) + timedelta(days=1)).date().isoformat(),
                "hotmart_event_id",
                event["event_id"],
            )
        except ApiUnavailable:
            raise
        except (ApiError, TypeError, ValueError) as error:
            self.run.count("uncertain", doubt=f"{doubt}; Brevo cannot tell whether it has it ({error})")
            return
        if found:
            self._settle_event(event, "sent", {"call": "reconciled", "status": "found in Brevo"})
            self.run.count("events_reconciled")
        elif datetime.now(UTC) - event["ledger_at"] >= self.resend_unconfirmed_after:
            self.push_event(event)
        else:
            self.run.count("uncertain", doubt=f"{doubt}; not in Brevo yet, looked again next run")

    def pending_events(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Queued events to send, and those whose answer was lost; settled and unsendable ones leave the
        queue, those of contacts not in Brevo yet (or erased) wait."""
        with self.engine.connect() as conn:
            ids = list(conn.execute(QUEUED_EVENTS).scalars())
            if not ids:
                return [], []
            rows = [dict(row) for row in conn.execute(PENDING_EVENTS, {"ids": ids}).mappings()]
        drop, send, doubtful = [], [], []
        for row in rows:
            too_old = self.events_since and (
                row["occurred_at"] is None or row["occurred_at"] < self.events_since
            )
            if row["email"] is None or row["ledger_status"] in ("sent", "rejected") or too_old:
                drop.append(row["event_id"])
            elif row["erased"] or row["contact_status"] != "synced":
                continue
            elif row["ledger_status"] in ("sending", "uncertain"):
                doubtful.append(row)
            else:
                send.append(row)
        if drop:
            with self.engine.begin() as conn:
                conn.execute(DROP_EVENTS, {"ids": drop})
        return send, doubtful

    # -- the run -------------------------------------------------------------------------------------------
    def sync(self) -> SyncRun:
        with exclusive(self.engine, "brevo_contacts"):
            self._sync()
        return self.run

    def _sync(self) -> None:
        changes = pending_changes(self.engine, self.rules)
        self.run.pending = len(changes)
        if changes:
            self.list_ids = ensure_setup(self.api, list_names(self.rules))
            with self.engine.connect() as conn:
                doubtful = set(conn.execute(OPEN_CONTACT_CALLS).scalars())
            # A contact whose last call's answer was lost goes one by one: looked up in Brevo first.
            new = [c for c in changes if not c.known and c.subject not in doubtful]
            if len(new) >= self.bulk_threshold:
                self.import_new(new)
                imported = {id(c) for c in new}
                changes = [c for c in changes if id(c) not in imported]
            run_all(self.push_contact, changes, self.concurrency)
        events, doubtful = self.pending_events()
        for event in doubtful[:RECONCILE_PER_RUN]:
            self.reconcile_event(event)
        run_all(self.push_event, events, self.concurrency)
        with self.engine.connect() as conn:
            self.run.unconfirmed_total = int(conn.execute(OPEN_CALLS).scalar_one())
