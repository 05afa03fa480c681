"""LGPD right to erasure: remove one person from the warehouse and from Brevo, and remember the erasure
(by hash) so a later event does not re-create the contact without a new consent.

What to do per table is data (`TARGETS`): a table another domain adds is one more line here. Tables that do
not exist (yet) are skipped. After the work, every table of the warehouse is searched for the e-mail and the
erasure is reported incomplete if any trace is left, naming the table, so nothing is silently missed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.ops.audit import audit
from organizer_pipeline.privacy import email_key, email_sha256, mask_email, redact

log = logging.getLogger(__name__)

Action = Literal["delete", "null", "scrub_json", "drop_keys", "drop_text"]
WAREHOUSE_SCHEMAS = ("raw", "core", "hotmart", "ai", "kpi", "ops")
ERASED = "[erased]"
# Keys that identify the buyer even outside the object holding the e-mail (purchase.buyer_ip).
PERSONAL_KEYS = frozenset({"buyer_ip"})


@dataclass(frozen=True)
class Target:
    """`column` holds the e-mail (delete/null) or a body that may contain it (scrub_json/drop_keys/drop_text).
    `personal` lists what else goes: for `null`, other personal columns (when present) — the rest, e.g.
    amounts, stays; for `drop_keys`, the keys removed from a flat JSON object."""

    table: str
    column: str
    action: Action
    personal: tuple[str, ...] = ()


TARGETS: tuple[Target, ...] = (
    Target("hotmart.contacts", "email", "delete"),
    Target(
        "hotmart.sales",
        "buyer_email",
        "null",
        ("buyer_name", "buyer_document", "buyer_phone", "buyer_first_name", "buyer_last_name"),
    ),
    Target("hotmart.events", "email", "null", ("name", "phone", "document")),
    # hotmart.events.facts: the parsed event (flat); sale facts stay so sales can still be rebuilt.
    Target(
        "hotmart.events",
        "facts",
        "drop_keys",
        (
            "email",
            "name",
            "first_name",
            "last_name",
            "phone",
            "document",
            "city",
            "state",
            "country",
            "subscriber_code",
        ),
    ),
    Target("hotmart.webhook_inbox", "payload", "scrub_json"),
    Target("hotmart.webhook_quarantine", "body", "drop_text"),
    # Enrichment (migration 0004): the profile row holds the embedding; brevo_sync mirrors what Brevo has.
    # ai.llm_calls / ai.side_effects keep only the e-mail's SHA-256 (cost ledger, idempotency): not erased.
    Target("ai.contact_profiles", "email", "delete"),
    Target("ai.brevo_sync", "email", "delete"),
)


class BrevoContactDeleter(Protocol):
    """Deletes a Brevo contact by e-mail: True when deleted, False when Brevo had no such contact. Raises
    on any other failure. `BrevoClient.delete_contact` (resources/brevo.py) has this shape."""

    def __call__(self, email: str) -> bool: ...


class ErasureIncomplete(OrganizerError):
    """The e-mail is still somewhere after the erasure."""


@dataclass
class ErasureReport:
    email_masked: str
    rows: dict[str, int] = field(default_factory=dict)
    skipped_tables: list[str] = field(default_factory=list)
    brevo: str = "not attempted"

    def as_dict(self) -> dict[str, Any]:
        return {
            "email": self.email_masked,
            "rows": self.rows,
            "skipped": self.skipped_tables,
            "brevo": self.brevo,
        }


def scrub(node: Any, needle: str) -> Any:
    """A JSON value with the person removed: an object holding the e-mail (buyer, subscriber, user) is
    replaced whole (name, phone, document, address go with it); other mentions become "[erased]"."""
    if isinstance(node, dict):
        if any(isinstance(value, str) and needle in value.lower() for value in node.values()):
            return {"erased": True}
        return {key: (None if key in PERSONAL_KEYS else scrub(value, needle)) for key, value in node.items()}
    if isinstance(node, list):
        return [scrub(item, needle) for item in node]
    if isinstance(node, str) and needle in node.lower():
        return ERASED
    return node


def _columns(conn: Connection, table: str) -> set[str]:
    schema, name = table.split(".")
    return set(
        conn.execute(
            sa.text(
                "select column_name from information_schema.columns where table_schema = :s and table_name = :t"
            ),
            {"s": schema, "t": name},
        ).scalars()
    )


def _apply(conn: Connection, target: Target, columns: set[str], key: str) -> int:
    """Identifiers come from `TARGETS` (code), values are bound parameters."""
    table, column = target.table, target.column
    params = {"key": key}
    if target.action == "delete":
        return conn.execute(sa.text(f"delete from {table} where lower({column}) = :key"), params).rowcount  # noqa: S608
    if target.action == "null":
        cleared = [column, *(c for c in target.personal if c in columns)]
        assignments = ", ".join(f"{c} = null" for c in cleared)
        return conn.execute(
            sa.text(f"update {table} set {assignments} where lower({column}) = :key"),  # noqa: S608
            params,
        ).rowcount
    if target.action == "drop_keys":
        return conn.execute(
            sa.text(
                f"update {table} set {column} = {column} - cast(:keys as text[]) "  # noqa: S608
                f"where position(:key in lower({column}::text)) > 0"
            ),
            {**params, "keys": list(target.personal)},
        ).rowcount
    if target.action == "drop_text":
        return conn.execute(
            sa.text(f"update {table} set {column} = null where position(:key in lower({column})) > 0"),  # noqa: S608
            params,
        ).rowcount
    select = f"select ctid::text as ctid, {column} as body from {table} where position(:key in lower({column}::text)) > 0"  # noqa: S608
    rows = conn.execute(sa.text(select), params).all()
    for row in rows:
        conn.execute(
            sa.text(f"update {table} set {column} = cast(:body as jsonb) where ctid = cast(:ctid as tid)"),  # noqa: S608
            {"body": json.dumps(scrub(row.body, key), ensure_ascii=False), "ctid": row.ctid},
        )
    return len(rows)


def erase_in_warehouse(conn: Connection, key: str, report: ErasureReport) -> None:
    for target in TARGETS:
        columns = _columns(conn, target.table)
        if target.column not in columns:
            report.skipped_tables.append(target.table)
            continue
        try:
            with conn.begin_nested():
                report.rows[target.table] = _apply(conn, target, columns, key)
        except sa.exc.SQLAlchemyError as error:
            first = str(getattr(error, "orig", None) or error).strip().splitlines()
            raise OrganizerError(
                f"erasure rule for {target.table} ({target.action} by {target.column}) failed: "
                f"{redact(first[0] if first else type(error).__name__)}; nothing was changed — fix the rule in "
                "ops/erase.py TARGETS"
            ) from None


def find_traces(engine: Engine, email: str) -> dict[str, int]:
    """Rows of every warehouse table whose text still contains the e-mail (case-insensitive)."""
    key = email_key(email)
    with engine.connect() as conn:
        tables = conn.execute(
            sa.text(
                "select table_schema || '.' || table_name from information_schema.tables "
                "where table_type = 'BASE TABLE' and table_schema = any(:schemas) order by 1"
            ),
            {"schemas": list(WAREHOUSE_SCHEMAS)},
        ).scalars()
        traces = {}
        for table in list(tables):  # names from the catalogue, not from input
            count = conn.execute(
                sa.text(f"select count(*) from {table} t where position(:key in lower(t::text)) > 0"),  # noqa: S608
                {"key": key},
            ).scalar_one()
            if count:
                traces[table] = count
    return traces


RECORD_ERASURE = sa.text(
    """
    insert into ops.erasures (email_sha256, requested_by, detail) values (:sha, :by, cast(:detail as jsonb))
    on conflict (email_sha256) do update
       set erased_at = now(), requested_by = excluded.requested_by, detail = excluded.detail,
           consent_event_id = null, consent_at = null
    """
)


def erase_person(
    engine: Engine,
    email: str,
    *,
    requested_by: str,
    delete_in_brevo: BrevoContactDeleter | None,
    brevo_skip_reason: str = "no Brevo deleter configured",
) -> ErasureReport:
    """Erase `email` everywhere; safe to run again (a second run finds nothing and Brevo answers 404)."""
    key = email_key(email)
    if "@" not in key or " " in key:
        raise OrganizerError(f"{email!r} does not look like an e-mail address")
    report = ErasureReport(email_masked=mask_email(key) or "")
    with engine.begin() as conn:
        erase_in_warehouse(conn, key, report)
        conn.execute(
            RECORD_ERASURE,
            {"sha": email_sha256(key), "by": requested_by, "detail": json.dumps(report.as_dict())},
        )
        audit(conn, requested_by, "erase", key, report.as_dict(), subject_is_email=True)
    _delete_in_brevo(engine, key, report, delete_in_brevo, brevo_skip_reason, requested_by)
    traces = find_traces(engine, key)
    if traces:
        listed = ", ".join(f"{table} ({count} rows)" for table, count in traces.items())
        raise ErasureIncomplete(
            f"e-mail {report.email_masked} still found in {listed}: add those tables to ops/erase.py TARGETS "
            "(CVDW copies must be erased in CVCRM first, then re-pulled)"
        )
    log.info("erase: %s done %s", report.email_masked, json.dumps(report.as_dict()))
    return report


def _delete_in_brevo(
    engine: Engine,
    key: str,
    report: ErasureReport,
    deleter: Callable[[str], bool] | None,
    skip_reason: str,
    requested_by: str,
) -> None:
    if deleter is None:
        report.brevo = f"skipped: {skip_reason}"
        return
    try:
        deleted = deleter(key)
    except OrganizerError as error:
        reason = redact(str(error))  # the API path holds the e-mail
        report.brevo = f"failed: {reason}"
        audit(engine, requested_by, "erase_brevo_failed", key, {"error": reason}, subject_is_email=True)
        raise OrganizerError(
            f"warehouse erased for {report.email_masked}, but the Brevo delete failed ({reason}): "
            "run the same `organizer erase` again"
        ) from None
    report.brevo = "deleted" if deleted else "not in Brevo"
    with engine.begin() as conn:
        conn.execute(
            sa.text("update ops.erasures set brevo_deleted_at = now() where email_sha256 = :sha"),
            {"sha": email_sha256(key)},
        )
        audit(conn, requested_by, "erase_brevo", key, {"brevo": report.brevo}, subject_is_email=True)


def is_suppressed(conn: Connection, email: str) -> bool:
    """True when this person was erased and has not consented again since: do not push them to Brevo."""
    return bool(
        conn.execute(
            sa.text(
                "select 1 from ops.erasures where email_sha256 = :sha "
                "and (consent_at is null or consent_at < erased_at)"
            ),
            {"sha": email_sha256(email)},
        ).first()
    )


def record_consent(conn: Connection, email: str, event_id: str, at: Any) -> bool:
    """A new consent event (e.g. a new purchase) after the erasure lifts the suppression; True if it did."""
    return (
        conn.execute(
            sa.text(
                "update ops.erasures set consent_event_id = :event_id, consent_at = :at "
                "where email_sha256 = :sha and erased_at < :at"
            ),
            {"sha": email_sha256(email), "event_id": event_id, "at": at},
        ).rowcount
        > 0
    )
