"""Brevo sync: each changed contact is upserted once per change (attributes + list membership from one
event→lists mapping), each Hotmart event becomes one Brevo custom event, and every call that reached Brevo
is written to the side-effect ledger first-thing after it succeeds, so a retried run never repeats it."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from organizer_pipeline.enrichment.store import events_by_email
from organizer_pipeline.enrichment.workers import exclusive, run_all
from organizer_pipeline.errors import ConfigError
from organizer_pipeline.privacy import email_sha256, mask_email
from organizer_pipeline.resources.brevo import BrevoApi
from organizer_pipeline.resources.http import ApiBadRequest

log = logging.getLogger(__name__)

# THE mapping from Hotmart event to Brevo list membership: "+List" joins, "-List" leaves. Replayed over a
# contact's events in order, so a refund after a purchase ends in "Reembolsados" and out of "Compradores".
DEFAULT_EVENT_LISTS: dict[str, list[str]] = {
    "PURCHASE_APPROVED": ["+Hotmart - Compradores", "-Hotmart - Carrinho abandonado"],
    "PURCHASE_COMPLETE": ["+Hotmart - Compradores", "-Hotmart - Carrinho abandonado"],
    "PURCHASE_REFUNDED": ["+Hotmart - Reembolsados", "-Hotmart - Compradores"],
    "PURCHASE_CHARGEBACK": ["+Hotmart - Reembolsados", "-Hotmart - Compradores"],
    "PURCHASE_OUT_OF_SHOPPING_CART": ["+Hotmart - Carrinho abandonado"],
    "SUBSCRIPTION_CANCELLATION": ["+Hotmart - Assinatura cancelada"],
}
LIST_FOLDER = "Hotmart Organizer"
# Our own contact attributes (Brevo needs them to exist before use), created once when missing.
ATTRIBUTES = {"HOTMART_STATUS": "text", "LTV": "float", "LAST_PRODUCT": "text", "AI_SEGMENT": "text"}
IMPORT_CHUNK = 1000

Rules = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]


def parse_rules(mapping: Mapping[str, list[str]]) -> Rules:
    """{event: ["+Join", "-Leave"]} -> {event: (joins, leaves)}, refusing anything else."""
    rules: Rules = {}
    for event, operations in mapping.items():
        bad = [op for op in operations if op[:1] not in "+-" or not op[1:].strip()]
        if bad:
            raise ConfigError(f"event_lists[{event}]: {bad} — each entry is '+List name' or '-List name'")
        joins = tuple(op[1:].strip() for op in operations if op.startswith("+"))
        leaves = tuple(op[1:].strip() for op in operations if op.startswith("-"))
        rules[event.strip().upper()] = (joins, leaves)
    return rules


def parse_since(value: str | None) -> datetime | None:
    """`send_events_since`: an ISO date or date-time (UTC when no offset is given), or nothing."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"send_events_since: {value!r} is not an ISO date such as 2026-01-31") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def list_names(rules: Rules) -> set[str]:
    return {name for joins, leaves in rules.values() for name in (*joins, *leaves)}


def lists_for(events: list[str], rules: Rules) -> set[str]:
    """The lists a contact belongs in after its events (in the order they happened)."""
    member: set[str] = set()
    for event in events:
        joins, leaves = rules.get(event, ((), ()))
        member = (member - set(leaves)) | set(joins)
    return member


BRAZIL = {"BR", "BRA", "BRASIL", "BRAZIL"}


def e164(phone: str | None, country: str | None = None) -> str | None:
    """+5511999990000 when the number allows it (Brazilian numbers with DDD, or already international)."""
    if not phone:
        return None
    raw = phone.strip()
    digits = re.sub(r"\D", "", raw)
    if raw.startswith(("+", "00")):
        digits = digits[2:] if raw.startswith("00") else digits
        return f"+{digits}" if 8 <= len(digits) <= 15 else None
    if (country or "BR").strip().upper() not in BRAZIL:
        return None
    digits = digits.lstrip("0")  # trunk prefix (0xx11…)
    if len(digits) in (10, 11):
        return "+55" + digits
    if digits.startswith("55") and len(digits) in (12, 13):
        return "+" + digits
    return None


def contact_attributes(contact: Mapping[str, Any], segment: str | None) -> dict[str, Any]:
    first = contact.get("first_name") or (str(contact.get("name") or "").split() or [None])[0]
    ltv = contact.get("lifetime_value")
    values = {
        "FIRSTNAME": first,
        "LASTNAME": contact.get("last_name"),
        "SMS": e164(contact.get("phone"), contact.get("country")),
        "HOTMART_STATUS": contact.get("status"),
        "LTV": float(ltv) if isinstance(ltv, int | float | Decimal) else None,
        "LAST_PRODUCT": contact.get("last_product"),
        "AI_SEGMENT": segment,
    }
    return {key: value for key, value in values.items() if value not in (None, "")}


def change_hash(attributes: dict[str, Any], lists: set[str]) -> str:
    blob = json.dumps({"attributes": attributes, "lists": sorted(lists)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


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

    @property
    def subject(self) -> str:
        return f"contact:{email_sha256(self.email)}:{self.facts_hash}:{self.hash}"


PENDING_CONTACTS = sa.text(
    """
    SELECT c.*, p.segment, s.change_hash AS synced_hash, coalesce(s.in_brevo, false) AS in_brevo,
           coalesce(s.list_ids, '{}') AS synced_list_ids
    FROM hotmart.contacts c
    LEFT JOIN ai.contact_profiles p ON p.email = c.email
    LEFT JOIN ai.brevo_sync s ON s.email = c.email
    WHERE c.facts_hash IS NOT NULL
      AND NOT ai.is_erased(c.email)
      AND (s.email IS NULL OR s.facts_hash IS DISTINCT FROM c.facts_hash OR p.updated_at > s.synced_at)
    ORDER BY c.email
    """
)

PENDING_EVENTS = sa.text(
    """
    SELECT e.event_id, e.event, e.occurred_at, e.email, e.transaction, e.product_id, e.product_name,
           e.offer_code, e.status, e.price, e.currency
    FROM hotmart.events e
    JOIN ai.brevo_sync s ON s.email = e.email AND s.status = 'synced'
    WHERE NOT EXISTS (SELECT 1 FROM ai.side_effects x
                      WHERE x.subject = 'event:' || e.event_id AND x.action = 'brevo_event')
      AND NOT ai.is_erased(e.email)
      AND (CAST(:since AS timestamptz) IS NULL OR e.occurred_at >= CAST(:since AS timestamptz))
    ORDER BY e.occurred_at NULLS FIRST, e.event_id
    """
)

SYNC_SEEN = sa.text(
    "UPDATE ai.brevo_sync SET facts_hash = :facts_hash, synced_at = now() WHERE email = :email"
)
LEDGER_HAS = sa.text("SELECT 1 FROM ai.side_effects WHERE subject = :subject AND action = :action")
LEDGER_ADD = sa.text(
    """
    INSERT INTO ai.side_effects (subject, action, email_sha256, detail)
    VALUES (:subject, :action, :email_sha256, CAST(:detail AS jsonb))
    ON CONFLICT (subject, action) DO NOTHING
    """
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


def ledger_add(conn: Connection, subject: str, action: str, email: str, detail: dict[str, Any]) -> None:
    conn.execute(
        LEDGER_ADD,
        {
            "subject": subject,
            "action": action,
            "email_sha256": email_sha256(email),
            "detail": json.dumps(detail),
        },
    )


def pending_changes(engine: Engine, rules: Rules) -> list[Change]:
    """Contacts whose facts or profile moved since the last sync, and whose Brevo state would change.
    Those whose Brevo state would stay the same are marked as seen, so they are not looked at again."""
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(PENDING_CONTACTS).mappings()]
        history = events_by_email(conn, [row["email"] for row in rows])
    changes, unchanged = [], []
    for row in rows:
        attributes = contact_attributes(row, row.get("segment"))
        lists = lists_for([e["event"] for e in history.get(row["email"], [])], rules)
        digest = change_hash(attributes, lists)
        if digest == row["synced_hash"]:
            unchanged.append({"email": row["email"], "facts_hash": row["facts_hash"]})
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
            )
        )
    if unchanged:
        with engine.begin() as conn:
            conn.execute(SYNC_SEEN, unchanged)
    return changes


@dataclass
class SyncRun:
    pending: int = 0
    created: int = 0
    updated: int = 0
    imported: int = 0
    already_done: int = 0
    rejected: int = 0
    events_sent: int = 0
    events_rejected: int = 0
    failures: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name: str, problem: str | None = None) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)
            if problem:
                self.failures.append(problem)

    def metadata(self) -> dict[str, Any]:
        names = (
            "pending",
            "created",
            "updated",
            "imported",
            "already_done",
            "rejected",
            "events_sent",
            "events_rejected",
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
    ):
        self.engine, self.api, self.rules = engine, api, rules
        self.concurrency, self.bulk_threshold = concurrency, bulk_threshold
        self.events_since = events_since
        self.run = SyncRun()
        self.list_ids: dict[str, int] = {}

    def _ids(self, names: set[str]) -> list[int]:
        return sorted(self.list_ids[name] for name in names)

    def _write(
        self, conn: Connection, change: Change, status: str, detail: dict[str, Any], error: str | None = None
    ) -> None:
        if status == "synced":
            ledger_add(conn, change.subject, "brevo_contact", change.email, detail)
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

    def _record(self, change: Change, status: str, detail: dict[str, Any], error: str | None = None) -> None:
        with self.engine.begin() as conn:
            self._write(conn, change, status, detail, error)

    def push_contact(self, change: Change) -> None:
        with self.engine.connect() as conn:
            done = conn.execute(LEDGER_HAS, {"subject": change.subject, "action": "brevo_contact"}).first()
        if done:
            self._record(change, "synced", {"call": "ledger"})
            self.run.count("already_done")
            return
        try:
            detail = self._send(change, change.attributes)
        except ApiBadRequest as error:
            if "SMS" not in change.attributes or "SMS" not in str(error):
                self._reject(change, error)
                return
            # Brevo keeps SMS unique: a phone shared with another contact (family, typo) must not cost the
            # whole contact — send it without SMS.
            try:
                detail = self._send(change, {k: v for k, v in change.attributes.items() if k != "SMS"})
            except ApiBadRequest as second:
                self._reject(change, second)
                return
            detail["sms_dropped"] = str(error)[:200]
        self._record(change, "synced", detail)
        self.run.count("created" if detail.get("status") == 201 else "updated")

    def _send(self, change: Change, attributes: dict[str, Any]) -> dict[str, Any]:
        """One create/update call: PUT for a contact Brevo has (the only call that can leave lists), else
        POST with updateEnabled. Returns what the ledger keeps about it."""
        wanted = self._ids(change.lists)
        leave = sorted(set(change.synced_list_ids) - set(wanted))
        if change.known and self.api.update_contact(change.email, attributes, wanted, leave):
            return {"call": "PUT"}
        return {"call": "POST", "status": self.api.upsert_contact(change.email, attributes, wanted)}

    def _reject(self, change: Change, error: ApiBadRequest) -> None:
        self._record(change, "rejected", {}, str(error)[:500])
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
                chunk = group[start : start + IMPORT_CHUNK]
                rows = [{"email": c.email, "attributes": c.attributes} for c in chunk]
                process_id = self.api.import_contacts(rows, list(list_ids))
                with self.engine.begin() as conn:
                    for change in chunk:
                        self._write(conn, change, "synced", {"call": "import", "processId": process_id})
                self.run.imported += len(chunk)

    def push_event(self, event: dict[str, Any]) -> None:
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
        occurred = event.get("occurred_at")
        detail: dict[str, Any] = {"event": event["event"]}
        try:
            self.api.send_event(
                "hotmart_" + re.sub(r"[^A-Za-z0-9_-]", "_", str(event["event"])).lower(),
                event["email"],
                occurred.isoformat() if occurred else None,
                properties,
            )
            self.run.count("events_sent")
        except ApiBadRequest as error:
            detail.update(status="rejected", error=str(error)[:500])
            self.run.count("events_rejected", f"event {event['event_id']}: {error}")
        with self.engine.begin() as conn:
            ledger_add(conn, f"event:{event['event_id']}", "brevo_event", event["email"], detail)

    def sync(self) -> SyncRun:
        with exclusive(self.engine, "brevo_contacts"):
            self._sync()
        return self.run

    def _sync(self) -> None:
        changes = pending_changes(self.engine, self.rules)
        self.run.pending = len(changes)
        if changes:
            self.list_ids = ensure_setup(self.api, list_names(self.rules))
            new = [c for c in changes if not c.known]
            if len(new) >= self.bulk_threshold:
                self.import_new(new)
                changes = [c for c in changes if c.known]
            run_all(self.push_contact, changes, self.concurrency)
        with self.engine.connect() as conn:
            found = conn.execute(PENDING_EVENTS, {"since": self.events_since})
            events = [dict(row) for row in found.mappings()]
        run_all(self.push_event, events, self.concurrency)
