"""Data-quality checks of the CVDW tables, as plain SQL functions (the asset evaluates them after each load).

Every check reads the whole typed table (tens of thousands of rows: milliseconds) except the row count,
which compares what this run stored with what the API said for the same windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from organizer_pipeline.cvdw.endpoints import BY_NAME, Endpoint


@dataclass(frozen=True)
class Outcome:
    name: str
    passed: bool
    description: str
    metadata: dict[str, Any]
    warn_only: bool = False


def check_names(endpoint: Endpoint) -> list[tuple[str, str, bool]]:
    """(name, description, warn_only) of the checks that apply to `endpoint`."""
    names = [
        ("referencia_unique", "referencia and the entity id are unique in the typed table", False),
        ("row_count_matches_api", "rows stored per window == total_de_registros the API reported", False),
    ]
    if endpoint.money:
        names.append(("money_not_negative", f"no negative {', '.join(endpoint.money)}", False))
    for column, target in endpoint.references:
        names.append(
            (f"{column}_exists_in_{target}", f"every active row's {column} exists in core.{target}", True)
        )
    return names


def referencia_unique(conn: sa.Connection, endpoint: Endpoint) -> Outcome:
    table, key = endpoint.core_table, endpoint.natural_key
    dup_ref, dup_key = conn.execute(
        sa.text(
            f"SELECT count(*) - count(DISTINCT referencia), count({key}) - count(DISTINCT {key}) FROM {table}"  # noqa: S608 - names from the endpoint table
        )
    ).one()
    return Outcome(
        "referencia_unique",
        dup_ref == 0 and dup_key == 0,
        f"duplicate referencia: {dup_ref}, duplicate {key}: {dup_key}",
        {"duplicate_referencia": dup_ref, f"duplicate_{key}": dup_key},
    )


def row_count_matches_api(conn: sa.Connection, endpoint: Endpoint, root_run_id: str) -> Outcome:
    """Rows whose referencia_data lies in each window this run finished (with its earlier attempts: the
    same root run), against the API's total when the window's last page was read."""
    windows = conn.execute(
        sa.text(
            f"""
            SELECT w.window_start, w.window_end, w.total_de_registros,
                   (SELECT count(*) FROM {endpoint.raw_table} r
                     WHERE (w.window_start IS NULL OR r.referencia_data >= w.window_start)
                       AND (w.window_end IS NULL OR r.referencia_data <= w.window_end)) AS stored
            FROM raw.cvdw_sync_windows w
            WHERE w.endpoint = :endpoint AND w.root_run_id = :root AND w.completed_at IS NOT NULL
            ORDER BY w.id
            """  # noqa: S608 - table name from the endpoint table
        ),
        {"endpoint": endpoint.name, "root": root_run_id},
    ).all()
    mismatches = [
        f"{start or '…'}..{end or '…'}: stored {stored}, API {total}"
        for start, end, total, stored in windows
        if stored != total
    ]
    return Outcome(
        "row_count_matches_api",
        not mismatches,
        "; ".join(mismatches) or f"{len(windows)} window(s) match",
        {
            "windows": len(windows),
            "api_total": sum(w[2] for w in windows),
            "stored": sum(w[3] for w in windows),
        },
    )


def money_not_negative(conn: sa.Connection, endpoint: Endpoint) -> Outcome:
    condition = " OR ".join(f"{column} < 0" for column in endpoint.money)
    negative = conn.execute(
        sa.text(f"SELECT count(*) FROM {endpoint.core_table} WHERE {condition}")  # noqa: S608
    ).scalar_one()
    return Outcome(
        "money_not_negative", negative == 0, f"{negative} row(s) with a negative amount", {"rows": negative}
    )


def reference_exists(conn: sa.Connection, endpoint: Endpoint, column: str, target_name: str) -> Outcome:
    target = BY_NAME[target_name]
    missing = conn.execute(
        sa.text(
            f"""
            SELECT count(*) FROM {endpoint.core_table} c
            WHERE c.ativo = 'S' AND c.{column} IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM {target.core_table} t WHERE t.{target.natural_key} = c.{column})
            """  # noqa: S608 - names from the endpoint table
        )
    ).scalar_one()
    return Outcome(
        f"{column}_exists_in_{target_name}",
        missing == 0,
        f"{missing} active row(s) whose {column} is not in core.{target_name} (load that asset for the same days)",
        {"missing": missing},
        warn_only=True,
    )


def evaluate(conn: sa.Connection, endpoint: Endpoint, root_run_id: str) -> list[Outcome]:
    outcomes = [referencia_unique(conn, endpoint), row_count_matches_api(conn, endpoint, root_run_id)]
    if endpoint.money:
        outcomes.append(money_not_negative(conn, endpoint))
    outcomes += [reference_exists(conn, endpoint, column, target) for column, target in endpoint.references]
    return outcomes
