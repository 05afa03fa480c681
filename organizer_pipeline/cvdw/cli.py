"""`organizer cvdw …`: operator commands of the cvdw domain."""

import argparse

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


def register(commands: argparse._SubParsersAction) -> None:
    """Add this domain's subcommands to the `organizer` parser."""
    cvdw = commands.add_parser("cvdw", help="CVDW (CVCRM) ingestion")
    actions = cvdw.add_subparsers(dest="cvdw_command", required=True, metavar="COMMAND")
    ping = actions.add_parser("ping", help="check the CVDW URL and credentials; count rows per endpoint")
    ping.add_argument("--endpoint", choices=[e.name for e in ENDPOINTS])
    ping.set_defaults(func=cmd_ping)
