"""`organizer profiles …`: semantic search over the AI profiles."""

from __future__ import annotations

import argparse
import json


def cmd_search(args: argparse.Namespace) -> int:
    from organizer_pipeline.db.engine import get_engine
    from organizer_pipeline.enrichment.embeddings import openrouter_from_env, search

    results = search(get_engine(), openrouter_from_env(), args.text, args.limit)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    if not results:
        print("no profiles yet: materialize contact_profiles first")
    for row in results:
        print(f"{row['distance']:.4f}  {row['email']:<40} {row['segment']:<22} {row['summary'][:80]}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add this domain's subcommands to the `organizer` parser."""
    profiles = commands.add_parser("profiles", help="AI buyer profiles (semantic search)")
    actions = profiles.add_subparsers(dest="profiles_command", required=True, metavar="ACTION")
    search = actions.add_parser(
        "search", help="contacts whose profile is nearest to a text, with the distance"
    )
    search.add_argument("text", help='what you look for, e.g. "pediu reembolso do curso de investimentos"')
    search.add_argument("--limit", type=int, default=10, help="how many contacts (1-50, default 10)")
    search.add_argument("--json", action="store_true", help="print JSON instead of a table")
    search.set_defaults(func=cmd_search)
