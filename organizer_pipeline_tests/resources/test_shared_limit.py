"""The PostgreSQL-shared rate limit, on a scaled window (fast). The real per-minute run of four endpoints in
parallel processes is organizer_pipeline_tests/cvdw/test_one_limit.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import sqlalchemy as sa

from organizer_pipeline.db import urls
from organizer_pipeline.resources.http import RateLimitDeadline, RateLimiter
from organizer_pipeline.resources.shared_limit import SharedRateLimiter
from organizer_pipeline_tests.calls import max_concurrency, max_in_window

KEY = "test:account"


def test_threads_of_several_limiters_take_turns_and_keep_the_window(engine):
    """Four independent limiters (as four processes would have) on one account: one call at a time, at most
    3 starts in any 1 s window."""
    calls: list[tuple[float, float]] = []
    lock = threading.Lock()

    def caller() -> None:
        limiter = SharedRateLimiter(engine, KEY, 3, per=1.0)
        for _ in range(3):
            with limiter.slot():
                start = time.monotonic()
                time.sleep(0.03)  # the call itself
                with lock:
                    calls.append((start, time.monotonic()))

    threads = [threading.Thread(target=caller) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 12
    assert max_concurrency(calls) == 1
    assert max_in_window([start for start, _ in calls], 1.0) <= 3
    assert time.monotonic() - started >= 3.0  # 12 calls at 3 per second: 3 full windows waited
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT calls, holder FROM ops.api_rate_limits WHERE key = :k"), {"k": KEY}
        )
        assert tuple(row.one()) == (12, None)


def test_push_back_holds_every_limiter_of_the_account(engine):
    first, second = SharedRateLimiter(engine, KEY, 100, per=1.0), SharedRateLimiter(engine, KEY, 100, per=1.0)
    first.acquire()
    first.push_back(0.6)  # 'Too many requests' seen by one process …
    started = time.monotonic()
    second.acquire()  # … holds the others too
    assert time.monotonic() - started >= 0.5


def test_deadline_gives_up_at_once_instead_of_waiting(engine):
    limiter = SharedRateLimiter(engine, KEY, 1, per=30.0)
    limiter.acquire()
    started = time.monotonic()
    with pytest.raises(RateLimitDeadline), limiter.deadline(time.monotonic() + 5):
        limiter.acquire()  # the next turn is 30 s away: past the deadline
    assert time.monotonic() - started < 1.0
    # the in-process limiter keeps the same contract (and so does a disabled one)
    local = RateLimiter(1, per=30.0)
    local.acquire()
    with pytest.raises(RateLimitDeadline), local.deadline(time.monotonic() + 5):
        local.acquire()
    disabled = RateLimiter(0)
    with pytest.raises(RateLimitDeadline), disabled.deadline(time.monotonic() - 1):
        disabled.acquire()


def test_no_transaction_or_row_lock_is_held_during_a_call(engine):
    limiter = SharedRateLimiter(engine, KEY, 10, per=1.0)
    with limiter.slot(), engine.connect() as conn:
        holder = conn.execute(
            sa.text("SELECT holder FROM ops.api_rate_limits WHERE key = :k FOR UPDATE NOWAIT"), {"k": KEY}
        ).scalar_one()
        assert holder is not None  # the lease is a value in the row, not a lock anybody waits on
        idle = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'idle in transaction'"
            )
        ).scalar_one()
        assert idle == 0


HOLD_AND_HANG = textwrap.dedent(
    """
    import sys, time
    from organizer_pipeline.db.engine import get_engine
    from organizer_pipeline.resources.shared_limit import SharedRateLimiter
    limiter = SharedRateLimiter(get_engine(sys.argv[1]), sys.argv[2], 10, per=1.0, lease_seconds=1.5)
    with limiter.slot():
        print("holding", flush=True)
        time.sleep(600)  # killed mid-call
    """
)


def test_a_caller_killed_mid_call_blocks_others_only_until_its_lease_expires(engine, db_url):
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_HANG, urls.render(db_url), KEY],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert child.stdout.readline().strip() == "holding"
        time.sleep(2.0)  # its renewals keep the lease alive past lease_seconds while it lives
        limiter = SharedRateLimiter(engine, KEY, 10, per=1.0)
        with pytest.raises(RateLimitDeadline), limiter.deadline(time.monotonic() + 0.3):
            limiter.acquire()
        child.kill()  # SIGKILL: no clean-up runs
        child.wait()
        started = time.monotonic()
        limiter.acquire()
        assert time.monotonic() - started <= 1.5 + 0.5
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_a_missing_table_is_one_actionable_line(engine):
    from organizer_pipeline.errors import DatabaseUnavailable

    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE ops.api_rate_limits"))
    with pytest.raises(DatabaseUnavailable, match="organizer db upgrade"):
        SharedRateLimiter(engine, KEY, 10).acquire()
