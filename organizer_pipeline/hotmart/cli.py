"""`organizer hotmart …`: look at the inbox and apply it by hand (the same code the Dagster run uses)."""

from __future__ import annotations

import argparse
import json

import sqlalchemy as sa

from organizer_pipeline.argtypes import positive_int

STATUS_SQL = """
    SELECT
        (SELECT count(*) FROM hotmart.webhook_inbox) AS inbox,
        (SELECT count(*) FROM hotmart.webhook_inbox WHERE processed_at IS NULL) AS pending,
        (SELECT min(received_at) FROM hotmart.webhook_inbox WHERE processed_at IS NULL) AS oldest_pending,
        (SELECT count(*) FROM hotmart.webhook_inbox WHERE processed_at IS NULL AND last_error IS NOT NULL)
            AS failing,
        (SELECT count(*) FROM hotmart.webhook_quarantine) AS quarantined,
        (SELECT count(*) FROM hotmart.sales) AS sales,
        (SELECT count(*) FROM hotmart.contacts) AS contacts
"""


def cmd_status(args: argparse.Namespace) -> int:
    from organizer_pipeline.db.engine import get_engine

    with get_engine().connect() as conn:
        status = dict(conn.execute(sa.text(STATUS_SQL)).mappings().one())
    print(json.dumps(status, default=str))
    return 0


def cmd_process(args: argparse.Namespace) -> int:
    from organizer_pipeline.db.engine import get_engine
    from organizer_pipeline.hotmart.processing import process_pending

    result = process_pending(get_engine(), args.event_id or None, batch_size=args.batch_size)
    print(
        f"hotmart: {result.events} events, {result.applied} applied, {result.quarantined} quarantined, "
        f"{result.sales} sales and {result.contacts} contacts rebuilt"
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add this domain's subcommands to the `organizer` parser."""
    hotmart = commands.add_parser("hotmart", help="Hotmart webhook inbox: status, apply pending events")
    actions = hotmart.add_subparsers(dest="hotmart_command", required=True, metavar="ACTION")
    actions.add_parser(
        "status", help="inbox, pending, failing, quarantine, sales and contacts counts"
    ).set_defaults(func=cmd_status)
    process = actions.add_parser("process", help="apply pending events now (all, or --event-id …)")
    process.add_argument("--event-id", action="append", help="only this inbox event id (repeatable)")
    process.add_argument("--batch-size", type=positive_int, default=500)
    process.set_defaults(func=cmd_process)
