"""`organizer` subcommands of the enrichment domain."""

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add this domain's subcommands to the `organizer` parser."""
