"""Create, replace or refresh the KPI views in PostgreSQL (plain functions; the assets are thin wrappers).

Each object's COMMENT holds its description plus a definition tag. Unchanged definition: a materialized
view is refreshed CONCURRENTLY (readers are never blocked), a plain view is left alone. Changed definition:
the object is dropped and created again, and the KPI views built on it (which the drop takes along) are
recreated in the same transaction, so a reader never sees a missing view. A foreign object depending on a KPI
view is never dropped silently: the build stops and names it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.kpi.views import BY_NAME, SCHEMA, VIEWS, KpiView

# Serialises KPI DDL between concurrent runs (automation + a manual materialization).
LOCK_KEY = 0x6B7069  # "kpi"
TAG = re.compile(r"\[organizer kpi (\w+) (\w+)\]")


@dataclass(frozen=True)
class BuildResult:
    view: str
    action: str  # created | replaced | refreshed | unchanged
    seconds: float
    row_count: int
    preview: list[dict[str, Any]]
    columns: list[str]


def _kind(view: KpiView) -> str:
    return "MATERIALIZED VIEW" if view.materialized else "VIEW"


def _existing(conn: Connection, name: str) -> tuple[str, str | None] | None:
    """(relkind, fingerprint from the comment) of kpi.<name>, None when absent."""
    row = conn.execute(
        sa.text(
            "SELECT c.relkind, obj_description(c.oid, 'pg_class') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relname = :name"
        ),
        {"schema": SCHEMA, "name": name},
    ).first()
    if row is None:
        return None
    match = TAG.search(row[1] or "")
    return row[0], match.group(2) if match else None


def _dependents(conn: Connection, name: str) -> list[str]:
    """Every view/materialized view that depends on kpi.<name>, directly or not, as schema.name."""
    rows = conn.execute(
        sa.text(
            """
            WITH RECURSIVE deps(oid) AS (
                SELECT to_regclass(:qualified)::oid
                UNION
                SELECT r.ev_class
                FROM pg_depend d
                JOIN pg_rewrite r ON r.oid = d.objid
                JOIN deps ON d.refobjid = deps.oid
                WHERE d.classid = 'pg_rewrite'::regclass AND r.ev_class <> deps.oid
            )
            SELECT n.nspname || '.' || c.relname
            FROM deps JOIN pg_class c ON c.oid = deps.oid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE deps.oid <> to_regclass(:qualified)::oid
            """
        ),
        {"qualified": f"{SCHEMA}.{name}"},
    )
    return [row[0] for row in rows]


def _require_upstream_views(conn: Connection, view: KpiView) -> None:
    """A KPI view built on another one needs it first: say so instead of PostgreSQL's "does not exist"."""
    for name in view.upstream:
        if name in BY_NAME and _existing(conn, name) is None:
            raise OrganizerError(
                f"{view.qualified} is built on {SCHEMA}.{name}, which does not exist yet: materialize "
                f"{SCHEMA}/{name} first (or the whole group: --select 'group:kpi', or `organizer kpi refresh`)"
            )


def _create(conn: Connection, view: KpiView) -> None:
    _require_upstream_views(conn, view)
    conn.exec_driver_sql(f"CREATE {_kind(view)} {view.qualified} AS {view.sql}")
    if view.materialized and view.unique_key:
        columns = ", ".join(view.unique_key)
        conn.exec_driver_sql(
            f"CREATE UNIQUE INDEX {view.name}_key ON {view.qualified} ({columns}) NULLS NOT DISTINCT"
        )
    tag = f"[organizer kpi {'m' if view.materialized else 'v'} {view.fingerprint}]"
    conn.exec_driver_sql(f"COMMENT ON {_kind(view)} {view.qualified} IS %s", (f"{view.comment}\n{tag}",))


def ensure_view(conn: Connection, view: KpiView) -> str:
    """Bring kpi.<view> to its current definition and data; returns what was done. Call inside a
    transaction (engine.begin())."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    existing = _existing(conn, view.name)
    wanted_kind = "m" if view.materialized else "v"
    if existing == (wanted_kind, view.fingerprint):
        if not view.materialized:
            return "unchanged"
        conn.exec_driver_sql(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {view.qualified}")
        return "refreshed"
    if existing is None:
        _create(conn, view)
        return "created"
    dependents = _dependents(conn, view.name)
    foreign = [name for name in dependents if name.removeprefix(f"{SCHEMA}.") not in BY_NAME]
    if foreign:
        raise OrganizerError(
            f"{view.qualified} changed definition and must be recreated, but {', '.join(foreign)} "
            f"depend(s) on it: drop those objects (and recreate them after this run)"
        )
    old_kind = "MATERIALIZED VIEW" if existing[0] == "m" else "VIEW"
    conn.exec_driver_sql(f"DROP {old_kind} {view.qualified} CASCADE")
    _create(conn, view)
    dropped = {name.removeprefix(f"{SCHEMA}.") for name in dependents}
    for dependent in VIEWS:  # registry order is build order
        if dependent.name in dropped:
            _create(conn, dependent)
    return "replaced"


def summarize(conn: Connection, view: KpiView, preview_rows: int = 5) -> tuple[int, list[str], list[dict]]:
    """Row count, column names and the first rows (in the view's order) for asset metadata — without the
    view's personal columns: Dagster keeps metadata forever, out of reach of an erasure."""
    count = conn.exec_driver_sql(f"SELECT count(*) FROM {view.qualified}").scalar_one()  # noqa: S608
    order = ", ".join(view.order_by) or "1"
    result = conn.exec_driver_sql(
        f"SELECT * FROM {view.qualified} ORDER BY {order} LIMIT {int(preview_rows)}"  # noqa: S608
    )
    columns = [name for name in result.keys() if name not in view.personal_columns]
    return int(count), columns, [{name: row._mapping[name] for name in columns} for row in result]


def build(engine: Engine, view: KpiView) -> BuildResult:
    """Ensure one view in its own transaction and describe the result."""
    started = time.perf_counter()
    with engine.begin() as conn:
        action = ensure_view(conn, view)
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        count, columns, preview = summarize(conn, view)
    return BuildResult(view.name, action, seconds, count, preview, columns)


def build_all(engine: Engine) -> list[BuildResult]:
    """Every KPI view in build order (what `organizer kpi refresh` and the benchmark run)."""
    return [build(engine, view) for view in VIEWS]
