"""`organizer kpi …`: build/refresh the KPI views without Dagster (the same code the assets run)."""

import argparse

import sqlalchemy as sa

from organizer_pipeline.db.engine import explain_connection_error, get_engine, warehouse_url
from organizer_pipeline.errors import OrganizerError


def cmd_refresh(args: argparse.Namespace) -> int:
    from organizer_pipeline.kpi import build
    from organizer_pipeline.kpi.views import BY_NAME, VIEWS

    url = warehouse_url()
    engine = get_engine(url)
    unknown = [name for name in args.views if name not in BY_NAME]
    if unknown:
        raise OrganizerError(f"unknown KPI view {unknown[0]!r}; available: {', '.join(BY_NAME)}")
    chosen = [BY_NAME[name] for name in args.views] if args.views else list(VIEWS)
    try:
        for view in chosen:
            result = build.build(engine, view)
            print(
                f"{view.qualified:<30} {result.action:<10} {result.row_count:>10} rows {result.seconds:8.2f} s"
            )
    except sa.exc.OperationalError as error:
        raise explain_connection_error(url, error) from None
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add this domain's subcommands to the `organizer` parser."""
    kpi = commands.add_parser("kpi", help="KPI views (schema kpi)")
    actions = kpi.add_subparsers(dest="kpi_action", required=True, metavar="ACTION")
    refresh = actions.add_parser(
        "refresh", help="create, replace or refresh the KPI views (what the kpi assets do)"
    )
    refresh.add_argument(
        "views", nargs="*", metavar="VIEW", help="e.g. vendas_mensal (default: all, in build order)"
    )
    refresh.set_defaults(func=cmd_refresh)
