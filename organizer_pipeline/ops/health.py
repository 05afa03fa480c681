"""Hourly database health (the seed's "Health Monitor", extended): connection, migrations, size, Hotmart
inbox backlog and CVDW freshness. Plain functions: the Dagster job records and fails on them, and /health
shows the latest recorded result."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from organizer_pipeline.db import migrate
from organizer_pipeline.db.engine import explain_connection_error, get_engine
from organizer_pipeline.privacy import redact

INBOX_BACKLOG_AGE = timedelta(minutes=10)
CVDW_MAX_AGE = timedelta(hours=12)  # CVDW is pulled every 4 hours: three missed pulls is a problem
# (table, timestamp) whose newest value says the CVDW pull is alive; those that exist are used. The sync
# log counts even when nothing changed (a quiet weekend must not look stale); row timestamps are the fallback.
CVDW_FRESHNESS_SOURCES = (
    ("raw.cvdw_sync_windows", "synced_at"),
    ("core.reservas", "updated_at"),
    ("raw.cvdw_reservas", "updated_at"),
)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    value: float | None = None
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def check_connection(engine: Engine, url: URL) -> CheckResult:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.SQLAlchemyError as error:
        return CheckResult("connection", False, detail=str(explain_connection_error(url, error)))
    return CheckResult("connection", True, detail="select 1 answered")


def check_migrations(url: URL) -> CheckResult:
    current, head = migrate.current_revision(url), migrate.head_revision()
    if current == head:
        return CheckResult("migrations", True, detail=f"at head {head}")
    return CheckResult(
        "migrations", False, detail=f"at {current}, head is {head}: run `organizer db upgrade`"
    )


def check_database_size(engine: Engine, max_bytes: int | None = None) -> CheckResult:
    with engine.connect() as conn:
        size = conn.execute(sa.text("select pg_database_size(current_database())")).scalar_one()
    detail = f"{size / 2**20:.1f} MiB"
    if max_bytes is not None and size > max_bytes:
        return CheckResult(
            "database_size", False, float(size), f"{detail} > limit {max_bytes / 2**20:.0f} MiB"
        )
    return CheckResult("database_size", True, float(size), detail)


def check_inbox_backlog(engine: Engine, max_age: timedelta = INBOX_BACKLOG_AGE) -> CheckResult:
    """Hotmart events stored but still unprocessed after `max_age`: the inbox sensor or its runs are stuck."""
    with engine.connect() as conn:
        waiting, oldest = conn.execute(
            sa.text(
                "select count(*), min(received_at) from hotmart.webhook_inbox "
                "where processed_at is null and received_at < now() - :age"
            ),
            {"age": max_age},
        ).one()
    minutes = int(max_age.total_seconds() // 60)
    if waiting:
        return CheckResult(
            "inbox_backlog",
            False,
            float(waiting),
            f"{waiting} Hotmart events unprocessed for over {minutes} min (oldest received {oldest:%Y-%m-%d %H:%M %Z})",
        )
    return CheckResult("inbox_backlog", True, 0.0, f"no event waiting over {minutes} min")


def check_cvdw_freshness(engine: Engine, max_age: timedelta = CVDW_MAX_AGE) -> CheckResult:
    """Hours since the last CVDW sync (or row change). No data yet (a fresh install) is not a failure."""
    with engine.connect() as conn:
        present = [
            (table, column)
            for table, column in CVDW_FRESHNESS_SOURCES
            if conn.execute(sa.text("select to_regclass(:t)"), {"t": table}).scalar() is not None
        ]
        if not present:
            return CheckResult("cvdw_freshness", True, detail="no CVDW tables yet")
        # Identifiers come from the constant above, never from input.
        union = " union all ".join(f"select max({column}) as at from {table}" for table, column in present)  # noqa: S608
        age = conn.execute(sa.text(f"select extract(epoch from now() - max(at)) from ({union}) t")).scalar()  # noqa: S608
    if age is None:
        return CheckResult("cvdw_freshness", True, detail="no CVDW rows loaded yet")
    hours = float(age) / 3600
    limit = max_age.total_seconds() / 3600
    if hours > limit:
        return CheckResult(
            "cvdw_freshness", False, hours, f"last CVDW sync/change {hours:.1f} h ago (limit {limit:.0f} h)"
        )
    return CheckResult("cvdw_freshness", True, hours, f"last CVDW sync/change {hours:.1f} h ago")


def run_checks(url: URL, *, max_database_bytes: int | None = None) -> list[CheckResult]:
    """Every check; when the connection fails the others are skipped (they could only repeat it)."""
    engine = get_engine(url)
    connection = check_connection(engine, url)
    if not connection.ok:
        return [connection]
    results = [connection]
    for name, check in (
        ("migrations", lambda: check_migrations(url)),
        ("database_size", lambda: check_database_size(engine, max_database_bytes)),
        ("inbox_backlog", lambda: check_inbox_backlog(engine)),
        ("cvdw_freshness", lambda: check_cvdw_freshness(engine)),
    ):
        try:
            results.append(check())
        except sa.exc.SQLAlchemyError as error:
            first = str(getattr(error, "orig", None) or error).strip().splitlines()
            results.append(
                CheckResult(name, False, detail=redact(first[0] if first else type(error).__name__))
            )
    return results


INSERT_RESULT = sa.text(
    "insert into ops.health_checks (run_id, check_name, ok, value, detail) "
    "values (:run_id, :name, :ok, :value, :detail)"
)


def record_results(engine: Engine, results: list[CheckResult], run_id: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(INSERT_RESULT, [{**result.as_dict(), "run_id": run_id} for result in results])


def latest_results(engine: Engine) -> dict | None:
    """The last recorded run of every check, for /health: {checked_at, ok, checks: {name: {...}}}."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select distinct on (check_name) check_name, ok, value, detail, checked_at "
                "from ops.health_checks order by check_name, checked_at desc, id desc"
            )
        ).all()
    if not rows:
        return None
    return {
        "checked_at": max(row.checked_at for row in rows).isoformat(),
        "ok": all(row.ok for row in rows),
        "checks": {
            row.check_name: {
                "ok": row.ok,
                "value": row.value,
                "detail": row.detail,
                "at": row.checked_at.isoformat(),
            }
            for row in rows
        },
    }


def failures(results: list[CheckResult]) -> list[CheckResult]:
    return [result for result in results if not result.ok]
