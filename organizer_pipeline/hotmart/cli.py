"""`organizer hotmart …`: look at the inbox and apply it by hand (the same code the Dagster run uses)."""

from __future__ import annotations

import argparse
import json
import sys

import sqlalchemy as sa

from organizer_pipeline.argtypes import positive_int

RECENT_FAILURES = 10

STATUS_SQL = """
    SELECT
        (SELECT count(*) FROM hotmart.webhook_inbox) AS inbox,
        (SELECT count(*) FROM hotmart.webhook_inbox WHERE processed_at IS NULL) AS pending,
        (SELECT min(received_at) FROM hotmart.webhook_inbox WHERE processed_at IS NULL) AS oldest_pending,
        (SELECT count(*) FROM hotmart.webhook_inbox WHERE processed_at IS NULL AND last_error IS NOT NULL)
            AS failing,
        (SELECT count(*) FROM hotmart.webhook_inbox WHERE failed_at IS NOT NULL) AS failed,
        (SELECT count(*) FROM hotmart.webhook_quarantine) AS quarantined,
        (SELECT count(*) FROM hotmart.sales) AS sales,
        (SELECT count(*) FROM hotmart.contacts) AS contacts
"""
# The reasons were masked when written (processing.reason_of): no personal data here.
FAILURES_SQL = """
    SELECT event_id, event, attempts, last_error AS reason, failed_at
    FROM hotmart.webhook_inbox WHERE failed_at IS NOT NULL ORDER BY failed_at DESC, id DESC LIMIT :n
"""


def cmd_status(args: argparse.Namespace) -> int:
    from organizer_pipeline.db.engine import get_engine

    with get_engine().connect() as conn:
        status = dict(conn.execute(sa.text(STATUS_SQL)).mappings().one())
        status["recent_failures"] = [
            dict(row) for row in conn.execute(sa.text(FAILURES_SQL), {"n": RECENT_FAILURES}).mappings()
        ]
    print(json.dumps(status, default=str, ensure_ascii=False))
    return 0


def _unknown(event_ids: list[str]) -> list[str]:
    from organizer_pipeline.db.engine import get_engine

    with get_engine().connect() as conn:
        known = set(
            conn.execute(
                sa.text("SELECT event_id FROM hotmart.webhook_inbox WHERE event_id = ANY(:ids)"),
                {"ids": event_ids},
            ).scalars()
        )
    return [event_id for event_id in dict.fromkeys(event_ids) if event_id not in known]


def cmd_process(args: argparse.Namespace) -> int:
    from organizer_pipeline.db.engine import get_engine
    from organizer_pipeline.hotmart.processing import process_pending, requeue_failed

    unknown = _unknown(args.event_id) if args.event_id else []
    if args.retry_failed:
        print(f"hotmart: {requeue_failed(get_engine())} failed events made pending again")
    chosen = [event_id for event_id in args.event_id or [] if event_id not in unknown]
    result = None
    if chosen or not args.event_id:
        result = process_pending(get_engine(), chosen or None, batch_size=args.batch_size)
        print(
            f"hotmart: {result.events} events, {result.applied} applied, {result.quarantined} failed, "
            f"{result.sales} sales and {result.contacts} contacts rebuilt"
        )
        for failure in result.failures[:RECENT_FAILURES]:
            print(f"  failed {failure.event_id} ({failure.event}): {failure.reason}")
    if chosen and result is not None and result.events < len(chosen):
        print(f"hotmart: {len(chosen) - result.events} of the given events were already processed")
    if unknown:
        print(f"hotmart: unknown event id(s), not in the inbox: {', '.join(unknown)}", file=sys.stderr)
        return 1
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add this domain's subcommands to the `organizer` parser."""
    hotmart = commands.add_parser("hotmart", help="Hotmart webhook inbox: status, apply pending events")
    actions = hotmart.add_subparsers(dest="hotmart_command", required=True, metavar="ACTION")
    actions.add_parser(
        "status",
        help="inbox, pending, failing, failed, quarantine, sales and contacts counts; recent failures",
    ).set_defaults(func=cmd_status)
    process = actions.add_parser("process", help="apply pending events now (all, or --event-id …)")
    process.add_argument(
        "--event-id", action="append", help="only this inbox event id (repeatable); a failed one is retried"
    )
    process.add_argument(
        "--retry-failed", action="store_true", help="make every failed event pending again first"
    )
    process.add_argument("--batch-size", type=positive_int, default=500)
    process.set_defaults(func=cmd_process)
