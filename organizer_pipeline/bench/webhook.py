"""Hotmart receiver: accepted req/s and latency under loopback load vs the bare committed-INSERT limit.

In one run, on a scratch database of the same server (dropped afterwards):
1. `organizer web --workers W` receives N realistic events from C keep-alive connections: accepted req/s,
   p50/p99 latency, and the zero-loss check (every 2xx is in the inbox).
2. The limit: the same payloads as bare single-row committed INSERTs into a table of the inbox's shape,
   from 1 and from 16 psycopg2 connections. The 16-connection limit and the receiver are measured back to
   back in `--rounds` alternating rounds (the machine's background load drifts); figures are medians.
3. Applying: the events just received are applied in runs of the sensor's bound (hotmart/sensors.py
   RUN_BOUND): events/s and seconds per full run, against the 30 s sensor interval a run must end within.
4. End to end: events posted at a steady rate while the inbox sensor is evaluated every `--tick` seconds
   and each run it requests is executed in-process; POST→processed_at delay p50/p95 and runs requested.
   The real daemon adds its run-launch overhead on top (a new process per run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg2
import sqlalchemy as sa
from sqlalchemy.engine import URL

from organizer_pipeline.bench.common import scratch_database
from organizer_pipeline.db import urls
from organizer_pipeline.db.embedded import free_port
from organizer_pipeline.errors import OrganizerError
from organizer_pipeline.hotmart.inbox import INSERT_INBOX, libpq_dsn
from organizer_pipeline.processes import organizer_command, wait_for_http
from organizer_pipeline.sandbox import hotmart as generator

SCRATCH_DB = "organizer_bench_webhook"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # no line per run event
TARGETS = {"req_s": 1500, "p99_ms": 50, "ratio": 0.5, "e2e_p95_s": 60, "run_s": 30}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=20_000, help="events posted in the load phase")
    parser.add_argument("--concurrency", type=int, default=50, help="keep-alive connections posting at once")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of `organizer web`")
    parser.add_argument("--limit-events", type=int, default=3_000, help="bare INSERTs per limit measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating limit/receiver measurements")
    parser.add_argument(
        "--e2e-events", type=int, default=300, help="events of the end-to-end phase (0: skip)"
    )
    parser.add_argument(
        "--e2e-rate", type=float, default=20.0, help="events/s posted in the end-to-end phase"
    )
    parser.add_argument(
        "--tick", type=float, default=10.0, help="sensor interval of the end-to-end phase (s)"
    )
    parser.add_argument("--apply-runs", type=int, default=3, help="full runs timed in the applying phase")


@dataclass
class WebApp:
    root: str
    process: subprocess.Popen


@contextmanager
def web_app(url: URL, hottok: str, workers: int) -> Iterator[WebApp]:
    """`organizer web --workers N` in its own process group, serving `url`; stopped (or found dead) on exit."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": urls.render(url), "HOTMART_HOTTOK": hottok}
    command = organizer_command("web", "--port", str(port), "--workers", str(workers))
    process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    try:
        if not wait_for_http(f"{root}/health", 60, process):
            raise OrganizerError("bench webhook: `organizer web` did not start within 60 s")
        yield WebApp(root, process)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


async def _connection(port: int, hottok: str, work: Iterator[tuple[str, bytes]], load: Load) -> None:
    """One keep-alive HTTP/1.1 connection posting until the shared work runs out (a minimal client, so
    the load generator is not the bottleneck)."""
    head = (
        "POST /webhooks/hotmart HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-HOTMART-HOTTOK: {hottok}\r\nContent-Length: %d\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for event_id, body in work:
            started = time.perf_counter()
            writer.write((head % len(body)).encode() + body)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            load.latencies.append(time.perf_counter() - started)
            if 200 <= status < 300:
                load.accepted.append(event_id)
            else:
                load.errors[str(status)] = load.errors.get(str(status), 0) + 1
    except (OSError, asyncio.IncompleteReadError, IndexError, ValueError) as error:
        load.errors[type(error).__name__] = load.errors.get(type(error).__name__, 0) + 1
    finally:
        writer.close()


def post_load(root: str, hottok: str, bodies: list[tuple[str, bytes]], concurrency: int) -> Load:
    port = int(root.rsplit(":", 1)[1])
    load = Load()
    work = iter(bodies)

    async def main() -> None:
        started = time.perf_counter()
        await asyncio.gather(*(_connection(port, hottok, work, load) for _ in range(concurrency)))
        load.seconds = time.perf_counter() - started

    asyncio.run(main())
    return load


def insert_rate(url: URL, bodies: list[tuple[str, bytes]], connections: int) -> float:
    """Committed single-row INSERTs per second of the same payloads into a copy of the inbox's shape."""
    dsn = libpq_dsn(url)
    table_insert = INSERT_INBOX.replace("hotmart.webhook_inbox", "hotmart.bench_inbox")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS hotmart.bench_inbox")
        cur.execute("CREATE TABLE hotmart.bench_inbox (LIKE hotmart.webhook_inbox INCLUDING ALL)")
    conn.close()
    parts = [bodies[i::connections] for i in range(connections)]
    ready = threading.Barrier(connections + 1)

    def insert(part: list[tuple[str, bytes]]) -> None:
        db = psycopg2.connect(dsn)
        db.autocommit = True
        with db.cursor() as cur:
            ready.wait()
            for event_id, body in part:
                cur.execute(table_insert, (event_id, "PURCHASE_APPROVED", None, body.decode()))
        db.close()

    threads = [threading.Thread(target=insert, args=(part,)) for part in parts]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    rate = len(bodies) / (time.perf_counter() - started)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE hotmart.bench_inbox")
    conn.close()
    return rate


def apply_rate(url: URL, runs: int) -> list[tuple[int, float]]:
    """(events, seconds) of `runs` runs of the sensor's bound over what the inbox holds."""
    from organizer_pipeline.db.engine import get_engine
    from organizer_pipeline.hotmart.processing import process_pending
    from organizer_pipeline.hotmart.sensors import RUN_BOUND

    timed = []
    for _ in range(runs):
        started = time.perf_counter()
        result = process_pending(get_engine(url), max_events=RUN_BOUND)
        if not result.events:
            break
        timed.append((result.events, time.perf_counter() - started))
    return timed


def end_to_end(
    url: URL, root: str, hottok: str, count: int, rate: float, tick: float
) -> tuple[list[float], int]:
    """Post `count` events at `rate`/s while the sensor ticks every `tick` s and its runs execute here;
    the POST→processed delays in seconds, and how many runs the sensor requested."""
    import dagster as dg

    from organizer_pipeline.definitions import defs
    from organizer_pipeline.hotmart.sensors import hotmart_inbox_sensor
    from organizer_pipeline.resources.warehouse import Warehouse

    engine = sa.create_engine(urls.render(url), poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE hotmart.webhook_inbox"))
    events = generator.generate(count, seed=99, start_ms=int(time.time() * 1000))
    sender = threading.Thread(
        target=generator.deliver, args=(f"{root}/webhooks/hotmart", hottok, events), kwargs={"rate": rate}
    )
    warehouse = Warehouse(database_url=urls.render(url))
    job = defs.resolve_job_def("hotmart_inbox_job")
    runs = 0
    sender.start()
    with dg.instance_for_test() as instance:
        while True:
            tick_started = time.monotonic()
            context = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
            request = hotmart_inbox_sensor(context)
            if isinstance(request, dg.RunRequest):
                runs += 1
                job.execute_in_process(
                    run_config={**request.run_config, **QUIET},
                    instance=instance,
                    resources={"warehouse": warehouse},
                    tags=request.tags,
                )
            with engine.connect() as conn:
                pending = conn.execute(
                    sa.text("SELECT count(*) FROM hotmart.webhook_inbox WHERE processed_at IS NULL")
                ).scalar()
            if not sender.is_alive() and pending == 0:
                break
            time.sleep(max(0.0, tick - (time.monotonic() - tick_started)))
    with engine.connect() as conn:
        delays = conn.execute(
            sa.text("SELECT extract(epoch FROM processed_at - received_at) FROM hotmart.webhook_inbox")
        ).scalars()
        return sorted(float(d) for d in delays), runs


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]
    )


def run(args: argparse.Namespace) -> int:
    hottok = secrets.token_urlsafe(24)
    events = generator.generate(args.events, seed=1)
    bodies = [(e["id"], json.dumps(e, ensure_ascii=False).encode()) for e in events]
    warmup, measured = bodies[:200], bodies[200:]
    sample = bodies[: args.limit_events]
    rounds = []  # (receiver req/s, 16-connection limit) measured back to back: the box's load drifts
    latencies: list[float] = []
    with scratch_database(SCRATCH_DB) as url:
        limit_1 = insert_rate(url, sample, 1)
        with web_app(url, hottok, args.workers) as web:
            post_load(web.root, hottok, warmup, 10)  # workers import, pools connect
            accepted: list[str] = []
            for part in range(args.rounds):
                limit_16 = insert_rate(url, sample, 16)
                load = post_load(web.root, hottok, measured[part :: args.rounds], args.concurrency)
                rounds.append((len(load.accepted) / load.seconds, limit_16, load.errors))
                latencies.extend(load.latencies)
                accepted.extend(load.accepted)
            engine = sa.create_engine(urls.render(url), poolclass=sa.pool.NullPool)
            with engine.connect() as conn:
                stored = set(conn.execute(sa.text("SELECT event_id FROM hotmart.webhook_inbox")).scalars())
            lost = [event_id for event_id in accepted if event_id not in stored]
            applied = apply_rate(url, args.apply_runs)
            e2e, e2e_runs = [], 0
            if args.e2e_events:
                e2e, e2e_runs = end_to_end(url, web.root, hottok, args.e2e_events, args.e2e_rate, args.tick)

    req_s = statistics.median(r[0] for r in rounds)
    limit_16 = statistics.median(r[1] for r in rounds)
    ratio = statistics.median(r[0] / r[1] for r in rounds)
    lat = sorted(latencies)
    p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
    print(
        f"receiver: {len(accepted)} accepted of {len(measured)} in {args.rounds} rounds "
        f"({args.workers} workers, {args.concurrency} connections); errors {[r[2] for r in rounds if r[2]] or 'none'}"
    )
    print("  rounds req/s vs 16-conn limit: " + ", ".join(f"{r[0]:.0f}/{r[1]:.0f}" for r in rounds))
    print(f"  accepted req/s   {req_s:9.0f}   median of rounds (target >= {TARGETS['req_s']})")
    print(f"  latency p50/p99  {p50:6.1f} / {p99:.1f} ms   (target p99 < {TARGETS['p99_ms']} ms)")
    print(f"limit: bare committed single-row INSERT of the same payloads, {len(sample)} rows")
    print(f"  1 connection     {limit_1:9.0f} rows/s")
    print(f"  16 connections   {limit_16:9.0f} rows/s   median of rounds")
    print(
        f"ratio receiver / 16-connection limit: {ratio:.2f}   median of rounds (target >= {TARGETS['ratio']})"
    )
    print(
        f"zero loss: {'OK' if not lost else 'FAILED'} ({len(lost)} acknowledged events missing from the inbox)"
    )
    if applied:
        from organizer_pipeline.hotmart.sensors import RUN_BOUND

        rate = sum(n for n, _ in applied) / sum(seconds for _, seconds in applied)
        longest = max(seconds for _, seconds in applied)
        print(
            f"applying: {rate:.0f} events/s over {len(applied)} runs of up to {RUN_BOUND} events; longest run "
            f"{longest:.1f} s vs the {TARGETS['run_s']} s sensor interval (ratio {longest / TARGETS['run_s']:.2f})"
        )
    if e2e:
        print(
            f"end to end POST -> processed ({len(e2e)} events at {args.e2e_rate}/s, sensor every {args.tick:g} s, "
            f"runs in-process, {e2e_runs} runs): p50 {percentile(e2e, 50):.1f} s, p95 {percentile(e2e, 95):.1f} s "
            f"(target p95 < {TARGETS['e2e_p95_s']} s; the daemon adds its run-launch time)"
        )
    return 1 if lost else 0
