"""Audit-log clean-up: our batched delete vs one big DELETE (the seed's way), on a throwaway database.

Prints rows/s of both, the ratio, and the longest single transaction of each. Batching costs throughput (one
commit per batch) and buys short transactions: a first clean-up of a years-old table never becomes one long
transaction that holds back vacuum and replication, and a cancelled run keeps the batches already done."""

from __future__ import annotations

import argparse
import time
import uuid

import sqlalchemy as sa

from organizer_pipeline.bench.common import scratch_database
from organizer_pipeline.db.engine import get_engine
from organizer_pipeline.ops.maintenance import delete_older_than, retention_cutoff

FILL = sa.text(
    "insert into ops.audit_log (occurred_at, actor, action, subject, detail) "
    "select now() - make_interval(days => 31 + (i % 300)), 'bench', 'contact.updated', 'a***@e***.com', "
    "jsonb_build_object('n', i) from generate_series(1, :old) i "
    "union all select now() - make_interval(hours => i % 600), 'bench', 'recent', null, '{}' "
    "from generate_series(1, :recent) i"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=200_000, help="old rows to delete (default 200000)")
    parser.add_argument("--batch-size", type=int, default=5000)


def _fill(engine, rows: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("truncate ops.audit_log"))
        conn.execute(FILL, {"old": rows, "recent": rows // 10})
        conn.execute(sa.text("analyze ops.audit_log"))


def run(args: argparse.Namespace) -> int:
    with scratch_database(f"bench_ops_{uuid.uuid4().hex[:8]}") as url:
        engine = get_engine(url)
        cutoff = retention_cutoff(30)

        _fill(engine, args.rows)
        longest = [0.0]
        started = time.perf_counter()
        ours = delete_older_than(
            engine,
            "ops.audit_log",
            cutoff,
            args.batch_size,
            on_batch=lambda _rows, seconds: longest.__setitem__(0, max(longest[0], seconds)),
        )
        ours_seconds = time.perf_counter() - started

        _fill(engine, args.rows)
        started = time.perf_counter()
        with engine.begin() as conn:
            peer = conn.execute(
                sa.text("delete from ops.audit_log where occurred_at < :c"), {"c": cutoff}
            ).rowcount
        peer_seconds = time.perf_counter() - started
        engine.dispose()
    assert ours == peer == args.rows, (ours, peer)
    print(f"rows deleted            : {ours} (of {args.rows + args.rows // 10}; the recent 10% kept)")
    print(
        f"batched (ours)          : {ours / ours_seconds:,.0f} rows/s, longest transaction {longest[0] * 1000:.0f} ms"
    )
    print(
        f"one DELETE (seed's way) : {peer / peer_seconds:,.0f} rows/s, one transaction of {peer_seconds * 1000:.0f} ms"
    )
    print(f"ratio                   : throughput {peer_seconds / ours_seconds:.2f}x of one DELETE, "
          f"longest transaction {longest[0] / peer_seconds:.3f}x of it")  # fmt: skip
    return 0
