"""LGPD right to erasure: remove one person from the warehouse and from Brevo, and remember the erasure
(by hash) so a later event does not re-create the contact without a new consent (ops/consent.py).

What to do per table is data (`TARGETS`): a table another domain adds is one more line here. Tables that do
not exist (yet) are skipped. After the work, every table of the warehouse is searched for the e-mail and the
erasure is reported incomplete if any trace is left, naming the table, so nothing is silently missed.

Matching is exact (ops/email_match.py): the same matcher picks the rows to erase and looks for traces, so
another customer whose address merely contains this one (`mariana@` for `ana@`) is never touched, and a run
that stopped halfway (Brevo down) is completed by running it again.
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
from organizer_pipeline.ops.email_match import EmailMatch
from organizer_pipeline.privacy import email_sha256, redact

log = logging.getLogger(__name__)

Action = Literal["delete", "null", "scrub_json", "drop_keys", "drop_text"]
WAREHOUSE_SCHEMAS = ("raw", "core", "hotmart", "ai", "kpi", "ops")
ERASED = "[erased]"
# Keys that identify the buyer even outside the object holding the e-mail (purchase.buyer_ip).
PERSONAL_KEYS = frozenset({"buyer_ip"})


@dataclass(frozen=True)
class Target:
    """`column` holds the e-mail (delete/null: the whole value is the address) or a body that may mention it
    (scrub_json/drop_keys/drop_text). `personal` lists what else goes: for `null`, other personal columns
    (when present) — the rest, e.g. amounts, stays; for `drop_keys`, the keys removed from a flat JSON
    object (any other mention left in it is scrubbed)."""

    table: str
    column: str
    action: Action
    personal: tuple[str, ...] = ()

    @property
    def whole_value(self) -> bool:
        return self.action in ("delete", "null")


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
    email_sha256: str
    rows: dict[str, int] = field(default_factory=dict)
    skipped_tables: list[str] = field(default_factory=list)
    brevo: str = "not attempted"

    def as_dict(self) -> dict[str, Any]:
        return {
            "email": self.email_masked,
            "email_sha256": self.email_sha256,
            "rows": self.rows,
            "skipped": self.skipped_tables,
            "brevo": self.brevo,
        }


def _as_match(who: EmailMatch | str) -> EmailMatch:
    return who if isinstance(who, EmailMatch) else EmailMatch(who)


def scrub(node: Any, who: EmailMatch | str) -> Any:
    """A JSON value with the person removed: an object holding the address as a whole value (buyer,
    subscriber, user) is replaced whole (name, phone, document, address go with it); a string that mentions
    it becomes "[erased]"; `buyer_ip` is cleared."""
    match = _as_match(who)
    if isinstance(node, dict):
        if any(match.holds(value) for value in node.values()):
            return {"erased": True}
        return {key: (None if key in PERSONAL_KEYS else scrub(value, match)) for key, value in node.items()}
    if isinstance(node, list):
        return [scrub(item, match) for item in node]
    if isinstance(node, str) and match.mentions(node):
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


def _matching_rows(conn: Connection, target: Target, match: EmailMatch) -> list[Any]:
    """(ctid, value) of the rows this target erases, locked. SQL pre-selects, `match` decides."""
    table, column = target.table, target.column
    candidates = conn.execute(
        sa.text(
            f"select ctid::text as ctid, {column} as value from {table} "  # noqa: S608 - names from TARGETS
            f"where lower({column}::text) like any(:patterns) for update"
        ),
        {"patterns": match.like_patterns()},
    ).all()
    decide = match.holds if target.whole_value else match.mentions
    return [row for row in candidates if decide(row.value)]


def _apply(conn: Connection, target: Target, columns: set[str], match: EmailMatch) -> int:
    """Identifiers come from `TARGETS` (code), values are bound parameters."""
    table, column = target.table, target.column
    rows = _matching_rows(conn, target, match)
    if not rows:
        return 0
    ctids = {"ctids": [row.ctid for row in rows]}
    where = "where ctid = any(cast(:ctids as tid[]))"
    if target.action == "delete":
        conn.execute(sa.text(f"delete from {table} {where}"), ctids)  # noqa: S608
    elif target.action in ("null", "drop_text"):
        cleared = [column, *(c for c in target.personal if c in columns)]
        assignments = ", ".join(f"{c} = null" for c in cleared)
        conn.execute(sa.text(f"update {table} set {assignments} {where}"), ctids)  # noqa: S608
    else:
        for row in rows:
            value = row.value
            if target.action == "drop_keys" and isinstance(value, dict):
                value = {key: item for key, item in value.items() if key not in target.personal}
            update = f"update {table} set {column} = cast(:body as jsonb) where ctid = cast(:ctid as tid)"  # noqa: S608
            conn.execute(
                sa.text(update),
                {"body": json.dumps(scrub(value, match), ensure_ascii=False), "ctid": row.ctid},
            )
    return len(rows)


def apply_targets(
    conn: Connection, who: EmailMatch | str, targets: tuple[Target, ...] = TARGETS
) -> tuple[dict[str, int], list[str]]:
    """Run the erasure rules in the caller's transaction: (rows touched per table, tables skipped because
    they do not exist). A rule that fails changes nothing and says which rule."""
    match = _as_match(who)
    rows: dict[str, int] = {}
    skipped: list[str] = []
    for target in targets:
        columns = _columns(conn, target.table)
        if target.column not in columns:
            skipped.append(target.table)
            continue
        try:
            with conn.begin_nested():
                touched = _apply(conn, target, columns, match)  # two rules may touch the same rows
                rows[target.table] = max(rows.get(target.table, 0), touched)
        except sa.exc.SQLAlchemyError as error:
            first = str(getattr(error, "orig", None) or error).strip().splitlines()
            raise OrganizerError(
                f"erasure rule for {target.table} ({target.action} by {target.column}) failed: "
                f"{redact(first[0] if first else type(error).__name__)}; nothing was changed — fix the rule in "
                "ops/erase.py TARGETS"
            ) from None
    return rows, skipped


def find_traces(engine: Engine, email: EmailMatch | str) -> dict[str, int]:
    """Rows of every warehouse table that still mention the address (the erasure's own matcher)."""
    match = _as_match(email)
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
            rows = conn.execute(
                sa.text(f"select to_jsonb(t) from {table} t where lower(t::text) like any(:patterns)"),  # noqa: S608
                {"patterns": match.like_patterns()},
            ).scalars()
            count = sum(1 for row in rows if match.mentions(row))
            if count:
                traces[table] = count
    return traces


RECORD_ERASURE = sa.text(
    """
    insert into ops.erasures (email_sha256, requested_by, detail) values (:sha, :by, cast(:detail as jsonb))
    on conflict (email_sha256) do update
       set erased_at = now(), requested_by = excluded.requested_by, detail = excluded.detail,
           consent_event_id = null, consent_at = null, consent_source = null
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
    """Erase `email` everywhere. Safe to run again, and the way to finish a run that failed halfway: a
    second run finds nothing left in the warehouse, retries Brevo (404 = already gone) and checks again."""
    match = EmailMatch(email)
    report = ErasureReport(email_masked=match.masked, email_sha256=email_sha256(match.key))
    with engine.begin() as conn:
        report.rows, report.skipped_tables = apply_targets(conn, match)
        conn.execute(
            RECORD_ERASURE,
            {"sha": report.email_sha256, "by": requested_by, "detail": json.dumps(report.as_dict())},
        )
        audit(conn, requested_by, "erase", match.key, report.as_dict(), subject_is_email=True)
    _delete_in_brevo(engine, match, report, delete_in_brevo, brevo_skip_reason, requested_by)
    traces = find_traces(engine, match)
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
    match: EmailMatch,
    report: ErasureReport,
    deleter: Callable[[str], bool] | None,
    skip_reason: str,
    requested_by: str,
) -> None:
    if deleter is None:
        report.brevo = f"skipped: {skip_reason}"
        return
    deleted = False
    try:
        for variant in sorted(match.variants):  # an IDN address may be stored in either spelling
            deleted = deleter(variant) or deleted
    except OrganizerError as error:
        reason = redact(str(error))  # the API path holds the e-mail
        report.brevo = f"failed: {reason}"
        audit(engine, requested_by, "erase_brevo_failed", match.key, {"error": reason}, subject_is_email=True)
        raise OrganizerError(
            f"warehouse erased for {report.email_masked}, but the Brevo delete failed ({reason}): "
            "run the same `organizer erase` again"
        ) from None
    report.brevo = "deleted" if deleted else "not in Brevo"
    with engine.begin() as conn:
        conn.execute(
            sa.text("update ops.erasures set brevo_deleted_at = now() where email_sha256 = :sha"),
            {"sha": report.email_sha256},
        )
        audit(conn, requested_by, "erase_brevo", match.key, {"brevo": report.brevo}, subject_is_email=True)
