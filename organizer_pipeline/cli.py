"""The `organizer` command. Each domain adds its own subcommands through a `register(commands)` hook, so
this file only wires them together — and makes every command end in one line a person can act on, never a
traceback: `.env` is read first, bad arguments are argparse's one-line error (exit 2), known failures
(`OrganizerError`, database errors) are one line with exit 2, anything else one line with exit 1."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import signal
import sys
import threading

from organizer_pipeline import argtypes, settings
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.logs import configure_logging
from organizer_pipeline.privacy import redact

log = logging.getLogger("organizer")

# Modules with a `register(commands: argparse._SubParsersAction)` function.
COMMAND_MODULES = (
    "organizer_pipeline.cvdw.cli",
    "organizer_pipeline.hotmart.cli",
    "organizer_pipeline.enrichment.cli",
    "organizer_pipeline.kpi.cli",
    "organizer_pipeline.mcp.cli",
    "organizer_pipeline.ops.cli",
    "organizer_pipeline.sandbox.cli",
    "organizer_pipeline.bench.cli",
)


def cmd_up(args: argparse.Namespace) -> int:
    from organizer_pipeline.up import run_everything

    return run_everything(
        dagster_port=args.dagster_port, web_port=args.web_port, host=args.host, sandbox=args.sandbox
    )


def cmd_web(args: argparse.Namespace) -> int:
    import uvicorn

    from organizer_pipeline.web.metrics import multiprocess_dir

    host = args.host or settings.env("ORGANIZER_WEB_HOST")
    port = args.port or settings.env_int("ORGANIZER_WEB_PORT")
    with multiprocess_dir(port):  # before the app (and prometheus_client) is imported: workers add up
        print(f"organizer web: http://{host}:{port}  (health /health, dashboard /dashboard)", flush=True)
        uvicorn.run(
            "organizer_pipeline.web.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=args.workers,
            log_level="warning",
            access_log=False,
        )
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from organizer_pipeline.db import migrate
    from organizer_pipeline.db.embedded import default_server
    from organizer_pipeline.db.engine import (
        DAGSTER_DB,
        WAREHOUSE_DB,
        check_connection,
        dagster_url,
        ensure_database,
        warehouse_url,
    )
    from organizer_pipeline.db.urls import describe, render

    if args.action == "start":
        server = default_server()
        started = server.start()
        for name in (WAREHOUSE_DB, DAGSTER_DB):
            ensure_database(server.url(name))
        print(f"embedded PostgreSQL {'started' if started else 'already running'}: {server.url()}")
    elif args.action == "stop":
        print(
            "embedded PostgreSQL stopped"
            if default_server().stop()
            else "embedded PostgreSQL was not running"
        )
    elif args.action == "url":
        print(render(dagster_url() if args.dagster else warehouse_url()))
    elif args.action == "upgrade":
        url = warehouse_url()
        for target in (url, dagster_url()):  # Dagster creates its own tables, but not its database
            ensure_database(target)
            check_connection(target)
        migrate.upgrade(url)
        print(f"{describe(url)}: at migration {migrate.current_revision(url)} (head)")
    elif args.action == "status":
        url = warehouse_url()
        check_connection(url)
        current, head = migrate.current_revision(url), migrate.head_revision()
        status = {"database": describe(url), "migration": current, "head": head, "at_head": current == head}
        print(json.dumps(status))
        return 0 if current == head else 1
    return 0


class Parser(argparse.ArgumentParser):
    """argparse's usage error as one line (its default prints the whole usage first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """Builds without reading any setting, so `--help` works whatever the environment holds."""
    parser = Parser(
        prog="organizer",
        description="Operate organizer_pipeline: database, Dagster, web app, sandbox, benchmarks.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="start database, migrations, Dagster (UI + daemon) and the web app")
    up.add_argument("--host", default=None, help="bind address of both UIs (default 127.0.0.1)")
    up.add_argument("--dagster-port", type=argtypes.port, default=None, help="Dagster UI port (default 3000)")
    up.add_argument("--web-port", type=argtypes.port, default=None, help="web app port (default 8080)")
    up.add_argument(
        "--sandbox",
        choices=["auto", "off"],
        default="auto",
        help="auto: simulate every API whose credentials are absent",
    )
    up.set_defaults(func=cmd_up)

    web = commands.add_parser("web", help="serve the web app (webhooks, health, dashboard, API)")
    web.add_argument("--host", default=None, help="bind address (default ORGANIZER_WEB_HOST, 127.0.0.1)")
    web.add_argument(
        "--port", type=argtypes.port, default=None, help="port (default ORGANIZER_WEB_PORT, 8080)"
    )
    web.add_argument("--workers", type=argtypes.positive_int, default=1)
    web.set_defaults(func=cmd_web)

    db = commands.add_parser("db", help="database: start/stop the embedded server, migrate, status")
    db.add_argument("action", choices=["upgrade", "status", "start", "stop", "url"])
    db.add_argument("--dagster", action="store_true", help="with `url`: Dagster's database instead")
    db.set_defaults(func=cmd_db)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"organizer: {message}", file=sys.stderr)
    return code


def _stop_on_sigterm() -> None:
    """A command told to stop, stops. Dagster maps SIGTERM to SIGINT's handler in its processes, so one whose
    SIGINT is ignored (a background job of a non-interactive shell, a pytest-xdist worker) hands SIGTERM on
    ignored to every command it starts: `organizer web` or a simulator stopped then would run on."""
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    ):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: list[str] | None = None, *, dotenv: bool | None = None) -> int:
    """`dotenv`: read the project's `.env` first; by default only for the real command line (argv None),
    so a caller passing arguments (tests) never picks up a developer's credentials."""
    read_dotenv = argv is None if dotenv is None else dotenv
    _stop_on_sigterm()
    try:
        if read_dotenv:
            settings.load_dotenv()
        parser = build_parser()
    except OrganizerError as error:
        return _fail(str(error), 2)
    args = parser.parse_args(argv)  # --help ends here, before any setting is read
    try:
        configure_logging()
        return args.func(args) or 0
    except OrganizerError as error:
        return _fail(str(error), 2)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - the promise: one line, never a traceback
        import psycopg2
        import sqlalchemy as sa

        if isinstance(error, sa.exc.SQLAlchemyError | psycopg2.Error):
            from organizer_pipeline.db.engine import explain_database_error

            return _fail(explain_database_error(error), 2)
        log.debug("unexpected error", exc_info=True)
        first = (str(error).strip().splitlines() or [""])[0]
        return _fail(
            f"unexpected {type(error).__name__}: {redact(first)} (ORGANIZER_LOG_LEVEL=DEBUG logs the traceback)",
            1,
        )


if __name__ == "__main__":
    sys.exit(main())
