"""Brevo sync: each changed contact is upserted once per change (attributes + list membership from one
event→lists mapping, applied per sale), each Hotmart event becomes one Brevo custom event.

Every call is written to the side-effect ledger as 'sending' before it goes out and as 'sent' right after
Brevo accepts it. A call whose answer was lost (timeout, dropped connection) stays 'uncertain' and is never
repeated blindly: a contact is compared with what Brevo holds (`GET /contacts/{email}`) before it is sent
again; an event is looked for in `GET /v3/events` and sent again only when Brevo answers without it, or
stays flagged (WARN check) when Brevo cannot tell."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from organizer_pipeline.enrichment.store import dequeue, events_by_email
from organizer_pipeline.enrichment.workers import exclusive, run_all
from organizer_pipeline.errors import ConfigError
from organizer_pipeline.hotmart import state
from organizer_pipeline.privacy import email_sha256, mask_email
from organizer_pipeline.resources.brevo import BrevoApi
from organizer_pipeline.resources.http import ApiBadRequest, ApiError, ApiOutcomeUnknown, ApiUnavailable

log = logging.getLogger(__name__)

# THE mapping from Hotmart event to Brevo list membership: "+List" joins, "-List" leaves. Lists joined by a
# purchase event follow each sale (see `lists_for`); the others replay the contact's events in order.
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
ATTRIBUTES = {
    "HOTMART_STATUS": "text",
    "LTV": "float",
    "LTV_BY_CURRENCY": "text",
    "LAST_PRODUCT": "text",
    "AI_SEGMENT": "text",
}
IMPORT_CHUNK = 1000
# An event sent once more after Brevo said it does not have it; beyond that it stays flagged.
MAX_EVENT_ATTEMPTS = 3
# `GET /v3/events` counts against Brevo's 100 requests/hour for "other endpoints".
RECONCILE_PER_RUN = 20
# This many calls in a row without a reliable answer is an outage, not bad luck: the run stops, so nothing
# more is sent into it, and its re-execution looks each of them up first.
MAX_UNANSWERED_IN_A_ROW = 3

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


def replay(events: list[str], rules: Rules) -> set[str]:
    """The lists a sequence of events (in the order they happened) ends in."""
    member: set[str] = set()
    for event in events:
        joins, leaves = rules.get(event, ((), ()))
        member = (member - set(leaves)) | set(joins)
    return member


def lists_for(events: list[dict[str, Any]], rules: Rules) -> set[str]:
    """The lists a contact belongs in. A list joined by a purchase event ("Compradores", "Reembolsados")
    follows each sale: the contact is in it while at least one sale's state — its events that the sale state
    machine applied — puts it there, so refunding one purchase never takes the buyer of another out of
    "Compradores". Other lists (cart, subscription) replay all the contact's events in order, so a purchase
    after an abandoned cart still leaves "Carrinho abandonado"."""
    sale_lists = {name for event in state.EVENT_STATUS for name in rules.get(event, ((), ()))[0]}
    member = replay([e["event"] for e in events], rules) - sale_lists
    sales: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if event["event"] in state.EVENT_STATUS:
            sales[event.get("transaction") or event["event_id"]].append(event)
    for sale in sales.values():
        steps = (
            state.Step(e["event_id"], e["event"], state.EVENT_STATUS[e["event"]], e.get("occurred_at"))
            for e in sale
        )
        applied = [entry["event"] for entry in state.fold(steps).history if entry["applied"]]
        member |= replay(applied, rules) & sale_lists
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


def ltv_text(by_currency: Any) -> str | None:
    """{"BRL": 497, "USD": 97} -> "BRL 497.00; USD 97.00" (amounts in different currencies are never added)."""
    if not isinstance(by_currency, dict) or not by_currency:
        return None
    return "; ".join(f"{currency} {float(total):.2f}" for currency, total in sorted(by_currency.items()))


def contact_attributes(contact: Mapping[str, Any], segment: str | None) -> dict[str, Any]:
    """HOTMART_STATUS comes from every sale's state (hotmart/rebuild.py `contact_status`); LTV is in BRL only
    (`hotmart.contacts.lifetime_value`), LTV_BY_CURRENCY lists every currency."""
    first = contact.get("first_name") or (str(contact.get("name") or "").split() or [None])[0]
    ltv = contact.get("lifetime_value")
    values = {
        "FIRSTNAME": first,
        "LASTNAME": contact.get("last_name"),
        "SMS": e164(contact.get("phone"), contact.get("country")),
        "HOTMART_STATUS": contact.get("status"),
        "LTV": float(ltv) if isinstance(ltv, int | float | Decimal) else None,
        "LTV_BY_CURRENCY": ltv_text(contact.get("lifetime_value_by_currency")),
        "LAST_PRODUCT": contact.get("last_product"),
        "AI_SEGMENT": segment,
    }
    return {key: value for key, value in values.items() if value not in (None, "")}


def change_hash(attributes: dict[str, Any], lists: set[str]) -> str:
    blob = json.dumps({"attributes": attributes, "lists": sorted(lists)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _same(have: Any, want: Any, key: str) -> bool:
    if key == "SMS":
        return re.sub(r"\D", "", str(have or "")) == re.sub(r"\D", "", str(want))
    if isinstance(want, int | float):
        try:
            return abs(float(have) - float(want)) < 0.005
        except (TypeError, ValueError):
            return False
    return str(have) == str(want)


def holds(
    contact: dict[str, Any] | None, attributes: dict[str, Any], wanted: list[int], leave: list[int]
) -> bool:
    """Whether Brevo's copy of a contact already is what we meant to send."""
    if contact is None:
        return False
    held = {str(key).upper(): value for key, value in contact["attributes"].items()}
    lists = set(contact["listIds"])
    return (
        all(_same(held.get(key), value, key) for key, value in attributes.items())
        and set(wanted) <= lists
        and not set(leave) & lists
    )


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


# Contacts whose facts, sales or AI segment changed (ai.enrichment_queue, filled by triggers).
PENDING_CONTACTS = sa.text(
    """
    SELECT q.seq AS queue_seq, c.*, p.segment, s.change_hash AS synced_hash,
           coalesce(s.in_brevo, false) AS in_brevo, coalesce(s.list_ids, '{}') AS synced_list_ids
    FROM ai.enrichment_queue q
    JOIN hotmart.contacts c ON c.email = q.email
    LEFT JOIN ai.contact_profiles p ON p.email = c.email
    LEFT JOIN ai.brevo_sync s ON s.email = c.email
    WHERE q.consumer = 'brevo' AND c.facts_hash IS NOT NULL AND NOT ai.is_erased(c.email)
    ORDER BY q.seq
    """
)
# Queue rows of contacts that no longer exist (hotmart.contacts truncated, or the facts were cleared).
DROP_ORPHANS = sa.text(
    """
    DELETE FROM ai.enrichment_queue q
    WHERE NOT EXISTS (SELECT 1 FROM hotmart.contacts c WHERE c.email = q.email AND c.facts_hash IS NOT NULL)
    """
)
# Hotmart events not sent yet (ai.brevo_event_queue, filled by a trigger), with what the ledger says.
PENDING_EVENTS = sa.text(
    """
    SELECT q.event_id, e.event, e.occurred_at, e.email, e.transaction, e.product_id, e.product_name,
           e.offer_code, e.status, e.price, e.currency, s.status AS contact_status,
           x.status AS ledger_status, x.attempts, x.updated_at AS ledger_at,
           e.email IS NOT NULL AND ai.is_erased(e.email) AS erased
    FROM ai.brevo_event_queue q
    LEFT JOIN hotmart.events e ON e.event_id = q.event_id
    LEFT JOIN ai.brevo_sync s ON s.email = e.email
    LEFT JOIN ai.side_effects x ON x.subject = 'event:' || q.event_id AND x.action = 'brevo_event'
    ORDER BY e.occurred_at NULLS FIRST, q.event_id
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
        conn.execute(DROP_ORPHANS)
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(PENDING_CONTACTS).mappings()]
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
            rows = [dict(row) for row in conn.execute(PENDING_EVENTS).mappings()]
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
