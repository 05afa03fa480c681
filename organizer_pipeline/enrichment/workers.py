"""Running a step's work: on a few threads, and never in two runs at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def run_all(work: Callable[[Any], None], items: list[Any], concurrency: int) -> None:
    """`work(item)` for every item on `concurrency` threads; the first exception cancels what has not
    started and is raised (what finished stays done)."""
    with ThreadPoolExecutor(max_workers=max(concurrency, 1), thread_name_prefix="enrich") as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock named `name` meanwhile: two runs of the same step (a sensor's run and
    an automation's, or a re-execution) take turns, so the second finds the work done instead of redoing it."""
    # Session-level lock on an autocommit connection: no transaction stays open for the whole run.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(hashtext(:name))"), {"name": name})
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": name})
