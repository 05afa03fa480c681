"""`organizer backup`, `restore`, `erase` and `health`: what an operator runs by hand."""

from __future__ import annotations

import argparse
import getpass
import json
from datetime import UTC, datetime
from pathlib import Path


def backup_paths(out: str | None, now: datetime) -> tuple[Path, Path]:
    """Where `backup` writes the warehouse and Dagster dumps. In a directory (BACKUP_DIR, or `--out DIR`):
    `organizer-<ts>.dump` and `dagster-<ts>.dump`, the names the weekly job writes and rotates. With
    `--out FILE`: FILE and FILE's stem + `-dagster.dump`."""
    from organizer_pipeline.ops import backup

    target = Path(out) if out else backup.default_backup_dir()
    if not out or target.is_dir():
        return target / backup.timestamped_name("organizer", now), target / backup.timestamped_name(
            "dagster", now
        )
    return target, target.with_name(f"{target.stem}-dagster{backup.SUFFIX}")


def cmd_backup(args: argparse.Namespace) -> int:
    from organizer_pipeline.db.engine import dagster_url, warehouse_url
    from organizer_pipeline.ops import backup

    warehouse_file, dagster_file = backup_paths(args.out, datetime.now(UTC))
    dumps = [backup.dump_database(warehouse_url(), warehouse_file)]
    if args.with_dagster:
        dumps.append(backup.dump_database(dagster_url(), dagster_file))
    for dump in dumps:
        print(
            f"{dump.database}: {dump.path} ({dump.size_bytes} bytes, PostgreSQL {dump.server_major}, "
            f"pg_dump {dump.pg_dump_version} at {dump.pg_dump_path})"
        )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from organizer_pipeline.db.engine import dagster_url, warehouse_url
    from organizer_pipeline.db.urls import describe
    from organizer_pipeline.ops import backup

    target = dagster_url() if args.dagster else warehouse_url()
    backup.restore_database(Path(args.file), target, force=args.force)
    print(f"restored {args.file} into {describe(target)}")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    from organizer_pipeline.db.engine import get_engine
    from organizer_pipeline.ops.brevo_delete import brevo_deleter_from_env
    from organizer_pipeline.ops.erase import erase_person

    deleter, reason = brevo_deleter_from_env()
    report = erase_person(
        get_engine(),
        args.email,
        requested_by=args.requested_by or getpass.getuser(),
        delete_in_brevo=deleter,
        brevo_skip_reason=reason,
    )
    print(json.dumps(report.as_dict(), ensure_ascii=False))
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from organizer_pipeline.db.engine import warehouse_url
    from organizer_pipeline.ops import health

    url = warehouse_url()
    results = health.run_checks(url)
    if args.record and results[0].ok:
        from organizer_pipeline.db.engine import get_engine

        health.record_results(get_engine(url), results)
    print(json.dumps([result.as_dict() for result in results], ensure_ascii=False))
    return 1 if health.failures(results) else 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add this domain's subcommands to the `organizer` parser."""
    backup = commands.add_parser("backup", help="pg_dump the warehouse (custom format)")
    backup.add_argument(
        "--out", help="dump file, or a directory (default: BACKUP_DIR/organizer-<UTC time>.dump)"
    )
    backup.add_argument(
        "--with-dagster",
        action="store_true",
        help="also dump Dagster's database beside it (dagster-<UTC time>.dump, or <FILE stem>-dagster.dump)",
    )
    backup.set_defaults(func=cmd_backup)

    restore = commands.add_parser(
        "restore",
        help="restore a dump into the warehouse (checked first; the database changes only on success)",
    )
    restore.add_argument("file")
    restore.add_argument(
        "--force", action="store_true", help="replace a non-empty database (only on success)"
    )
    restore.add_argument("--dagster", action="store_true", help="restore into Dagster's database instead")
    restore.set_defaults(func=cmd_restore)

    erase = commands.add_parser("erase", help="LGPD erasure of one person (warehouse and Brevo)")
    erase.add_argument("--email", required=True)
    erase.add_argument("--requested-by", help="who asked (for the audit trail; default: your user name)")
    erase.set_defaults(func=cmd_erase)

    health = commands.add_parser("health", help="run the database health checks now (exit 1 on failure)")
    health.add_argument("--record", action="store_true", help="store the result for /health")
    health.set_defaults(func=cmd_health)
