"""`organizer mcp`: the MCP server over stdio, for desktop assistants (stdout carries the protocol; our
logs go to stderr)."""

from __future__ import annotations

import argparse
import functools


def cmd_mcp(args: argparse.Namespace) -> int:
    from organizer_pipeline.db.engine import get_engine, warehouse_url
    from organizer_pipeline.mcp.server import build_server

    # Resolved on the first call, so a database that is down is a clear tool error, not a dead server.
    engine = functools.cache(lambda: get_engine(warehouse_url()))
    build_server(engine, "stdio").run("stdio")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add this domain's subcommands to the `organizer` parser."""
    mcp = commands.add_parser(
        "mcp", help="serve the warehouse as read-only MCP tools over stdio (for desktop AI assistants)"
    )
    mcp.set_defaults(func=cmd_mcp)
