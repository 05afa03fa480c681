"""`organizer sandbox …`: run a simulator of an outside API on loopback."""

from __future__ import annotations

import argparse

from organizer_pipeline.sandbox import SIMULATORS


def cmd_serve(args: argparse.Namespace) -> int:
    from organizer_pipeline.sandbox.server import serve_forever

    serve_forever(SIMULATORS[args.name].create_app(), args.host, args.port)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    sandbox = commands.add_parser("sandbox", help="local simulators of CVDW, OpenRouter, Brevo and Hotmart")
    actions = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="SIMULATOR")
    serve = actions.add_parser("serve", help="serve one API simulator")
    serve.add_argument("name", choices=sorted(SIMULATORS))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0)
    serve.set_defaults(func=cmd_serve)
