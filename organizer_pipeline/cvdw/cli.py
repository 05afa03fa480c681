"""`organizer cvdw …`: operator commands of the cvdw domain."""

import argparse
from datetime import timedelta

from organizer_pipeline import argtypes
from organizer_pipeline.cvdw.endpoints import ENDPOINTS


def cmd_ping(args: argparse.Namespace) -> int:
    """One one-row request per endpoint (or the one named): are the URL and credentials right, and how many
    rows does each endpoint hold? Costs len(endpoints) requests of the 20/min budget."""
    from organizer_pipeline.resources.cvdw import CvdwClient

    api = CvdwClient().get_api()
    print(f"CVDW at {api.base_url}")
    for endpoint in ENDPOINTS:
        if args.endpoint and endpoint.name != args.endpoint:
            continue
        page = api.get_page(endpoint.path, 1, page_size=1)
        newest = page.rows[0].get("referencia_data") if page.rows else None
        print(f"  {endpoint.name:20} {page.total_rows:>9} rows  (first referencia_data {newest})")
    print(f"{api.stats.calls} requests, {api.stats.retries} retries")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    """Ask the running Dagster for one backfill of what the endpoint assets miss in a day range."""
    from organizer_pipeline import settings
    from organizer_pipeline.cvdw import history, partitions
    from organizer_pipeline.errors import ConfigError

    last = args.to or partitions.today()
    first = partitions.clamp(args.since or last - timedelta(days=args.days - 1))
    if first > last:
        raise ConfigError(f"--from {first} is after --to {last}: nothing to load")
    url = (
        args.dagster_url
        or f"http://{settings.env('DAGSTER_WEB_HOST')}:{settings.env_int('DAGSTER_WEB_PORT')}"
    )
    backfill = history.ensure_history(url, first, last, trigger="organizer cvdw backfill")
    found = f"backfill {backfill} launched" if backfill else "nothing launched (already loaded or running)"
    print(f"CVDW history {first}..{last}: {found}; Dagster → Backfills at {url}/overview/backfills")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add this domain's subcommands to the `organizer` parser."""
    cvdw = commands.add_parser("cvdw", help="CVDW (CVCRM) ingestion")
    actions = cvdw.add_subparsers(dest="cvdw_command", required=True, metavar="COMMAND")
    ping = actions.add_parser("ping", help="check the CVDW URL and credentials; count rows per endpoint")
    ping.add_argument("--endpoint", choices=[e.name for e in ENDPOINTS])
    ping.set_defaults(func=cmd_ping)
    backfill = actions.add_parser(
        "backfill",
        help="one Dagster backfill of the days the CVDW assets miss (default: the last 730 days)",
    )
    backfill.add_argument("--from", dest="since", type=argtypes.day, help="first day (YYYY-MM-DD)")
    backfill.add_argument("--to", type=argtypes.day, help="last day (default: today, São Paulo)")
    backfill.add_argument(
        "--days", type=argtypes.positive_int, default=730, help="without --from: this many days"
    )
    backfill.add_argument(
        "--dagster-url", help="the Dagster webserver (default http://DAGSTER_WEB_HOST:PORT)"
    )
    backfill.set_defaults(func=cmd_backfill)
