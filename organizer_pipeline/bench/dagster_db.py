"""Dagster's own database after 100k Hotmart runs: its size without the daily purge, and with it.

On scratch databases of the same server (dropped afterwards):
1. `--template-runs` real `hotmart_inbox_job` runs — sensor-style run config and tags, a few inbox events
   each — execute through a real DagsterInstance whose storage is a scratch PostgreSQL database; one more
   run fails (the warehouse is unreachable), as about `--failure-rate` of production runs do.
2. Those runs are replicated in SQL to `--runs` runs: every row Dagster wrote for a template run (runs,
   run_tags, event_logs, asset_check_executions) is copied under a new run id, its timestamps spread evenly
   over the last `--days` days. Row contents stay Dagster's own serialization; only the volume is synthetic
   (writing 100k runs through the instance API takes hours: one new connection per event).
3. Without purge: database size. Then the purge job's own function (`instance.delete_run` per run, in
   batches) with `--retention-days`; its speed against the production inflow; the size after a plain VACUUM
   (what autovacuum gives: freed pages are reused by new runs, the files keep their size) and after
   VACUUM FULL (the live data: the size the database stays at under the purge).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.engine import URL

from organizer_pipeline.bench.common import scratch_database
from organizer_pipeline.db import urls
from organizer_pipeline.db.engine import _engine, ensure_database
from organizer_pipeline.ops.run_retention import PURGED_JOBS, purge_successful_runs, retention_cutoff

JOB = PURGED_JOBS[0]
RUN_TABLES = ("runs", "run_tags", "event_logs", "asset_check_executions")
RUNS_PER_DAY = 2880  # one inbox run every 30 s (the sensor's pace under a steady trickle)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runs", type=int, default=100_000, help="runs in Dagster's database (default 100000)"
    )
    parser.add_argument(
        "--days",
        type=float,
        default=None,
        help=f"the runs' ages spread over this many days (default: runs / {RUNS_PER_DAY}, the production pace)",
    )
    parser.add_argument("--retention-days", type=int, default=30, help="DAGSTER_RUN_RETENTION_DAYS")
    parser.add_argument("--template-runs", type=int, default=20, help="real runs executed and replicated")
    parser.add_argument("--failure-rate", type=float, default=0.01, help="share of failed runs")
    parser.add_argument(
        "--events-per-run", type=int, default=5, help="inbox events each template run applies"
    )


def _store_events(url: URL, count: int, seed: int) -> list[str]:
    from organizer_pipeline.hotmart import inbox
    from organizer_pipeline.hotmart.payloads import envelope
    from organizer_pipeline.sandbox import hotmart as generator

    async def store_all() -> list[str]:
        pool = inbox.ConnectionPool(inbox.libpq_dsn(url), size=1)
        try:
            ids = []
            for event in generator.generate(count, seed=seed):
                head = envelope(event)
                await inbox.store_event(
                    pool, head.event_id, head.event, head.creation_date, json.dumps(event), event
                )
                ids.append(head.event_id)
            return ids
        finally:
            pool.close()

    return asyncio.run(store_all())


def _template_runs(instance: dg.DagsterInstance, url: URL, count: int, events: int) -> tuple[list, list]:
    """Real runs as the sensor launches them; returns (successful run ids, failed run ids)."""
    from organizer_pipeline.definitions import defs
    from organizer_pipeline.hotmart.sensors import run_key
    from organizer_pipeline.resources.warehouse import Warehouse

    job = defs.resolve_job_def(JOB)
    warehouse = Warehouse(database_url=urls.render(url))
    succeeded = []
    for i in range(count):
        ids = _store_events(url, events, seed=1000 + i)
        result = job.execute_in_process(
            run_config={"ops": {"hotmart_inbox": {"config": {"event_ids": ids}}}, **QUIET},
            tags={"dagster/sensor_name": "hotmart_inbox_sensor", "dagster/run_key": run_key(ids)},
            instance=instance,
            resources={"warehouse": warehouse},
        )
        assert result.success, "a template run failed"
        succeeded.append(result.run_id)
    unreachable = Warehouse(database_url=urls.render(url.set(database=f"{url.database}_missing")))
    failed = job.execute_in_process(
        run_config={
            "ops": {"hotmart_inbox": {"config": {"event_ids": ["missing"], "batch_size": 1}}},
            "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},  # the failure is expected
        },
        tags={"dagster/sensor_name": "hotmart_inbox_sensor", "dagster/run_key": "hotmart-failed"},
        instance=instance,
        resources={"warehouse": unreachable},
        raise_on_error=False,
    )
    assert not failed.success
    return succeeded, [failed.run_id]


def _columns(conn, table: str) -> list[tuple[str, str]]:
    return [
        (name, kind)
        for name, kind, default in conn.execute(
            sa.text(
                "SELECT column_name, data_type, column_default FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = :t ORDER BY ordinal_position"
            ),
            {"t": table},
        )
        if not (default or "").startswith("nextval(")  # serial ids: new ones
    ]


def _copy_statement(conn, table: str) -> sa.TextClause:
    """INSERT … SELECT copying a template run's rows of `table` under each mapped new run id, shifted back in
    time. Identifiers come from the catalog of Dagster's own tables, never from input."""
    targets, values = [], []
    for name, kind in _columns(conn, table):
        targets.append(f'"{name}"')
        if name == "run_id":
            values.append("m.new_id")
        elif name in ("run_body", "event", "evaluation_event"):
            values.append(f'replace(t."{name}", m.template_id, m.new_id)')
        elif kind.startswith("timestamp"):
            values.append(f't."{name}" - m.shift')
        elif name in ("start_time", "end_time"):
            values.append(f't."{name}" - extract(epoch FROM m.shift)')
        else:
            values.append(f't."{name}"')
    return sa.text(
        f'INSERT INTO "{table}" ({", ".join(targets)}) SELECT {", ".join(values)} '  # noqa: S608
        f'FROM bench_map m JOIN "{table}" t ON t.run_id = m.template_id'
    )


def _replicate(dagster_url: URL, successes: list[str], failures: list[str], args) -> float:
    """Copy the template runs to `args.runs` runs, oldest first; returns the seconds it took."""
    started = time.perf_counter()
    engine = sa.create_engine(urls.render(dagster_url), poolclass=sa.pool.NullPool)
    every = max(int(1 / args.failure_rate), 1) if args.failure_rate > 0 else 0
    chunk = 2000
    with engine.begin() as conn:
        statements = {table: _copy_statement(conn, table) for table in RUN_TABLES}
    total = args.runs - len(successes) - len(failures)
    for first in range(0, total, chunk):
        rows = []
        for i in range(first, min(first + chunk, total)):
            template = failures[0] if every and i % every == every - 1 else successes[i % len(successes)]
            age_days = args.days * (1 - i / total)
            rows.append({"new": str(uuid.uuid4()), "template": template, "seconds": age_days * 86400})
        with engine.begin() as conn:
            conn.execute(
                sa.text("CREATE TEMP TABLE bench_map (new_id text, template_id text, shift interval)")
            )
            conn.execute(
                sa.text("INSERT INTO bench_map VALUES (:new, :template, make_interval(secs => :seconds))"),
                rows,
            )
            for statement in statements.values():
                conn.execute(statement)
            conn.execute(sa.text("DROP TABLE bench_map"))
    engine.dispose()
    return time.perf_counter() - started


def _sizes(dagster_url: URL) -> dict[str, int]:
    engine = sa.create_engine(urls.render(dagster_url), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        sizes = {
            table: conn.execute(sa.text(f"SELECT pg_total_relation_size('{table}')")).scalar()
            for table in RUN_TABLES
        }
        sizes["database"] = conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar()
        sizes["runs_count"] = conn.execute(sa.text("SELECT count(*) FROM runs")).scalar()
        sizes["events_count"] = conn.execute(sa.text("SELECT count(*) FROM event_logs")).scalar()
        sizes["checks_count"] = conn.execute(sa.text("SELECT count(*) FROM asset_check_executions")).scalar()
    engine.dispose()
    return sizes


def _vacuum(dagster_url: URL, full: bool) -> None:
    engine = sa.create_engine(
        urls.render(dagster_url), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    with engine.connect() as conn:
        conn.execute(sa.text("VACUUM (FULL, ANALYZE)" if full else "VACUUM (ANALYZE)"))
    engine.dispose()


def _mb(size: int) -> str:
    return f"{size / 2**20:,.0f} MB"


def run(args: argparse.Namespace) -> int:
    args.days = args.days or args.runs / RUNS_PER_DAY
    name = f"bench_dagster_{uuid.uuid4().hex[:8]}"
    with scratch_database(name) as url:
        dagster_url = url.set(database=f"{name}_dagster")
        ensure_database(dagster_url)
        admin = sa.create_engine(
            urls.render(url.set(database="postgres")),
            isolation_level="AUTOCOMMIT",
            poolclass=sa.pool.NullPool,
        )
        try:
            storage = {"storage": {"postgres": {"postgres_url": urls.render(dagster_url)}}}
            with dg.instance_for_test(overrides=storage) as instance:
                started = time.perf_counter()
                successes, failures = _template_runs(instance, url, args.template_runs, args.events_per_run)
                per_template = (time.perf_counter() - started) / (len(successes) + len(failures))
                copy_seconds = _replicate(dagster_url, successes, failures, args)
                _vacuum(dagster_url, full=False)
                before = _sizes(dagster_url)
                per_run = before["database"] / before["runs_count"]
                print(
                    f"without purge: {before['runs_count']:,} runs, {before['events_count']:,} events: "
                    f"database {_mb(before['database'])} ({per_run / 1024:.1f} KB per run; event_logs "
                    f"{_mb(before['event_logs'])}, runs {_mb(before['runs'])}, run_tags {_mb(before['run_tags'])}, "
                    f"asset_check_executions {_mb(before['asset_check_executions'])})"
                )
                print(
                    f"  written: {len(successes) + len(failures)} real runs ({per_template:.2f} s each through "
                    f"the instance), then {args.runs:,} in {copy_seconds:.0f} s by SQL copy"
                )
                cutoff = retention_cutoff(args.retention_days, datetime.now(UTC))
                started = time.perf_counter()
                deleted = sum(batch.deleted for batch in purge_successful_runs(instance, JOB, cutoff))
                purge_seconds = time.perf_counter() - started
            _vacuum(dagster_url, full=False)
            vacuumed = _sizes(dagster_url)
            _vacuum(dagster_url, full=True)
            live = _sizes(dagster_url)
            rate = deleted / purge_seconds if purge_seconds else 0.0
            print(
                f"purge ({args.retention_days} days): deleted {deleted:,} runs in {purge_seconds:.0f} s = "
                f"{rate:.0f} runs/s; one day of production inflow ({RUNS_PER_DAY} runs) takes "
                f"{RUNS_PER_DAY / rate if rate else float('inf'):.0f} s of the daily job"
            )
            print(
                f"with purge: {live['runs_count']:,} runs, {live['events_count']:,} events kept "
                f"({live['checks_count']:,} of {before['checks_count']:,} asset check rows: delete_run keeps "
                f"them); database "
                f"{_mb(vacuumed['database'])} after VACUUM (space reused by new runs), {_mb(live['database'])} "
                f"of live data (VACUUM FULL) — the size it stays at"
            )
            steady = per_run * RUNS_PER_DAY * args.retention_days
            year = per_run * RUNS_PER_DAY * 365
            print(
                f"ratio without/with purge (this run): {before['database'] / live['database']:.2f}x; "
                f"at {RUNS_PER_DAY} runs/day: {_mb(int(year))} after a year without purge vs "
                f"~{_mb(int(steady))} steady with a {args.retention_days}-day purge ({year / steady:.1f}x)"
            )
        finally:
            _engine.cache_clear()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{dagster_url.database}" WITH (FORCE)'))
            admin.dispose()
    return 0
