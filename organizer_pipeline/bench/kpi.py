"""KPI: refresh of every KPI asset vs the bare SQL aggregates (the limit), and latency of the BI API and the
dashboard, on generated data (default 1M reservas and 200k Hotmart sales).

In one run, on a scratch database of the same server (dropped afterwards unless --keep):
1. generate the data inside PostgreSQL;
2. create the KPI views once (first materialization);
3. twice, alternating: the bare aggregates (each view's defining SELECT, for the row-level kpi.vendas its
   count, timed by the server: EXPLAIN ANALYZE planning + execution, no rows sent) and the refresh of all
   KPI assets timed by the client (what the assets run: REFRESH MATERIALIZED VIEW CONCURRENTLY + row count +
   preview, one transaction each). Best of two each; ratio = refresh / bare;
4. `organizer web` in a subprocess: GET /api/kpis/vendas_mensal and GET /dashboard (cycling through no
   filter, a period and an empreendimento), sequentially over keep-alive: p50/p95.
Targets: refresh <= 2x bare, dashboard p95 < 300 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from sqlalchemy.engine import URL, Engine

from organizer_pipeline.bench.common import scratch_database
from organizer_pipeline.cvdw import derived
from organizer_pipeline.db import urls
from organizer_pipeline.db.embedded import free_port
from organizer_pipeline.db.engine import get_engine
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.kpi import build, synthetic
from organizer_pipeline.kpi.views import VIEWS, KpiView
from organizer_pipeline.processes import organizer_command, wait_for_http

SCRATCH_DB = "organizer_bench_kpi"
TARGETS = {"refresh_ratio": 2.0, "dashboard_p95_ms": 300.0}
TOKEN = "bench-kpi-token"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reservas", type=int, default=1_000_000, help="generated core.reservas rows")
    parser.add_argument("--hotmart", type=int, default=200_000, help="generated hotmart.sales rows")
    parser.add_argument("--units", type=int, default=30_000, help="generated units (snapshots: 3 days/month)")
    parser.add_argument("--requests", type=int, default=200, help="GETs per endpoint for the latency figures")
    parser.add_argument("--keep", action="store_true", help=f"keep the scratch database {SCRATCH_DB}")


def bare_sql(view: KpiView) -> str:
    """The aggregate alone: what refreshing the view cannot beat."""
    if view.materialized:
        return view.sql
    return f"SELECT count(*) FROM ({view.sql}) AS q"  # noqa: S608 - registry SQL, no user text


def time_bare(engine: Engine) -> dict[str, float]:
    """Server-side planning + execution time of each bare aggregate (EXPLAIN ANALYZE without per-node
    timing): no rows cross the wire, so this is the floor the refresh is compared with."""
    seconds = {}
    with engine.connect() as conn:
        for view in VIEWS:
            plan = conn.exec_driver_sql(
                f"EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) {bare_sql(view)}"
            ).scalar_one()[0]
            seconds[view.name] = (plan["Planning Time"] + plan["Execution Time"]) / 1000
    return seconds


def time_refresh(engine: Engine) -> dict[str, float]:
    seconds = {}
    for view in VIEWS:
        started = time.perf_counter()
        build.build(engine, view)
        seconds[view.name] = time.perf_counter() - started
    return seconds


@contextmanager
def web_server(url: URL) -> Iterator[str]:
    """`organizer web` on a free loopback port, stopped (by its pid) afterwards."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": urls.render(url), "ORGANIZER_API_TOKEN": TOKEN}
    process = subprocess.Popen(
        organizer_command("web", "--host", "127.0.0.1", "--port", str(port)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        if not wait_for_http(f"{root}/health", 60, process):
            process.terminate()
            raise OrganizerError(f"organizer web did not start: {process.communicate()[1].decode()[-500:]}")
        yield root
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def latencies(session: requests.Session, urls_to_get: list[str], count: int, **kwargs) -> list[float]:
    for url in urls_to_get:  # warm-up: connection, first query plans, Plotly imports
        session.get(url, timeout=60, **kwargs).raise_for_status()
    result = []
    for i in range(count):
        started = time.perf_counter()
        response = session.get(urls_to_get[i % len(urls_to_get)], timeout=60, **kwargs)
        result.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return result


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) > 1 else values[0]


def run(args: argparse.Namespace) -> int:
    size = synthetic.Size(reservas=args.reservas, hotmart_sales=args.hotmart, units=args.units)
    with scratch_database(SCRATCH_DB, keep=args.keep) as url:
        engine = get_engine(url)
        started = time.perf_counter()
        synthetic.generate(engine, size)
        print(
            f"data: {size.reservas:,} reservas, {size.hotmart_sales:,} Hotmart sales, {size.units:,} units "
            f"generated in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        _, sales = derived.rebuild(engine, derived.PROSOLUTO)
        print(
            f"core.prosoluto (the prosoluto asset): {sales:,} sales in {time.perf_counter() - started:.2f} s"
        )
        first = time_refresh(engine)
        print(f"first materialization (create): {sum(first.values()):.2f} s")
        bare_runs, refresh_runs = [], []
        for _ in range(2):
            bare_runs.append(time_bare(engine))
            refresh_runs.append(time_refresh(engine))
        bare = {name: min(run[name] for run in bare_runs) for name in bare_runs[0]}
        refresh = {name: min(run[name] for run in refresh_runs) for name in refresh_runs[0]}
        print(f"{'view':<24}{'refresh s':>11}{'bare s':>9}{'ratio':>8}")
        for name in refresh:
            print(f"{name:<24}{refresh[name]:>11.3f}{bare[name]:>9.3f}{refresh[name] / bare[name]:>8.2f}")
        total_refresh, total_bare = sum(refresh.values()), sum(bare.values())
        ratio = total_refresh / total_bare
        print(
            f"refresh all KPI assets: {total_refresh:.2f} s | bare SQL aggregates (limit): {total_bare:.2f} s | "
            f"ratio {ratio:.2f} (target <= {TARGETS['refresh_ratio']})"
        )
        with web_server(url) as root, requests.Session() as session:
            api = latencies(
                session,
                [f"{root}/api/kpis/vendas_mensal", f"{root}/api/kpis/vendas_mensal?de=2024-01&ate=2024-12"],
                args.requests,
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            pages = [
                f"{root}/dashboard",
                f"{root}/dashboard?de=2024-01&ate=2024-06",
                f"{root}/dashboard?empreendimento=7",
            ]
            board = latencies(session, pages, args.requests)
        for label, values in (("GET /api/kpis/vendas_mensal", api), ("GET /dashboard", board)):
            print(
                f"{label}: p50 {statistics.median(values):.1f} ms, p95 {p95(values):.1f} ms "
                f"({len(values)} requests, {sum(values) / 1000:.1f} s)"
            )
        print(f"dashboard p95 target < {TARGETS['dashboard_p95_ms']:.0f} ms")
    met = ratio <= TARGETS["refresh_ratio"] and p95(board) < TARGETS["dashboard_p95_ms"]
    print("targets met" if met else "TARGET MISSED")
    return 0 if met else 1
