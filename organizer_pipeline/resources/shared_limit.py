"""A rate limit that belongs to an account, shared by every process through PostgreSQL.

CVDW allows 20 requests a minute per account, while the steps of one run (multiprocess executor), other
runs, the change sensor and the CLI may all call it at once. Each of them takes its turn in one row of
`ops.api_rate_limits`:

- one call in flight at a time: a caller holds a *lease* for the whole call (request sent, answer read
  and judged). A background thread renews it; if the process dies, the renewals stop and the lease
  expires, so nobody waits for a dead caller longer than `lease_seconds`;
- at most `capacity` calls start in any `window`: a call may start only once the `capacity`-th most recent
  call *ended* at least `window` (+ a 1/60 margin) ago. Counting from the end of a call, not from when it
  was sent, keeps the server's count (it counts arrivals) under the limit whatever the network delay;
- the API's push-back ('Too many requests', Retry-After) sets `not_before` for everybody.

Each step is one short transaction that holds the row lock for a few statements: no transaction stays
open across an HTTP call, and waiting happens in Python, between transactions. Times come from the
database's clock, the one clock every process shares.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from organizer_pipeline.errors import DatabaseUnavailable
from organizer_pipeline.resources.http import RateLimiter

TABLE = "ops.api_rate_limits"

_LOCK = sa.text(
    "SELECT clock_timestamp() AS now, holder, lease_until, not_before, recent_ends "
    "FROM ops.api_rate_limits WHERE key = :key FOR UPDATE"
)
_ENSURE = sa.text("INSERT INTO ops.api_rate_limits (key) VALUES (:key) ON CONFLICT (key) DO NOTHING")
_GRANT = sa.text(
    "UPDATE ops.api_rate_limits SET holder = :holder, lease_until = :now + make_interval(secs => :lease), "
    "recent_ends = :ends, calls = calls + 1, updated_at = :now WHERE key = :key"
)
_FORGET_DEAD = sa.text(
    "UPDATE ops.api_rate_limits SET holder = NULL, lease_until = NULL, recent_ends = :ends, updated_at = :now "
    "WHERE key = :key"
)
_RENEW = sa.text(
    "UPDATE ops.api_rate_limits SET lease_until = clock_timestamp() + make_interval(secs => :lease) "
    "WHERE key = :key AND holder = :holder"
)
_RELEASE = sa.text(
    "UPDATE ops.api_rate_limits SET holder = NULL, lease_until = NULL, updated_at = clock_timestamp(), "
    "recent_ends = (recent_ends || clock_timestamp())[greatest(1, cardinality(recent_ends) + 2 - :capacity):] "
    "WHERE key = :key AND holder = :holder"
)
_PUSH_BACK = sa.text(
    "UPDATE ops.api_rate_limits SET not_before = greatest(not_before, clock_timestamp() + "
    "make_interval(secs => :seconds)), updated_at = clock_timestamp() WHERE key = :key"
)


class SharedRateLimiter(RateLimiter):
    """At most `rate` calls per `per` seconds and one call at a time for everybody using `key`.

    `per` stays configurable so benchmarks and fast tests can scale the window down; a fractional rate
    keeps its mean (rate 0.5 per 60 s = 1 call per 120 s)."""

    def __init__(
        self,
        engine: Engine | Callable[[], Engine],
        key: str,
        rate: float,
        per: float = 60.0,
        *,
        lease_seconds: float = 30.0,
        poll_seconds: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError(
                "a shared limit needs a positive rate (rate 0 means no limit: use RateLimiter(0))"
            )
        super().__init__(rate, per, clock=clock, sleep=sleep)
        self._engine, self.key = engine, key
        self.capacity = max(1, int(rate))
        self.window = per * self.capacity / rate
        self.margin = self.window / 60  # the server may count in whole seconds: 1 s at 60 s
        self.lease_seconds, self.poll_seconds = lease_seconds, poll_seconds

    # -- the turn of one call ----------------------------------------------------------------------------
    @contextmanager
    def slot(self) -> Iterator[float]:
        holder = f"pid {os.getpid()} {uuid.uuid4().hex[:12]}"
        waited = self._take(holder)
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(holder, stop), daemon=True)
        renewer.start()
        try:
            yield waited
        finally:
            stop.set()
            renewer.join()
            self._run(
                lambda conn: conn.execute(
                    _RELEASE, {"key": self.key, "holder": holder, "capacity": self.capacity}
                )
            )

    def acquire(self) -> float:
        """A turn that ends at once (for callers that only need the pacing)."""
        with self.slot() as waited:
            return waited

    def push_back(self, seconds: float) -> None:
        self._run(lambda conn: conn.execute(_PUSH_BACK, {"key": self.key, "seconds": float(seconds)}))

    # -- internals ---------------------------------------------------------------------------------------
    def _take(self, holder: str) -> float:
        started = self._clock()
        while True:
            wait = self._run(lambda conn: self._try(conn, holder))
            if wait <= 0:
                break
            self._check_deadline(self._clock() + wait)
            self._sleep(wait)
        waited = self._clock() - started
        self.waited_seconds += waited
        return waited

    def _try(self, conn: Connection, holder: str) -> float:
        """Take the lease if the turn is ours now (0.0); else the seconds worth waiting before asking again."""
        row = conn.execute(_LOCK, {"key": self.key}).one_or_none()
        if row is None:
            conn.execute(_ENSURE, {"key": self.key})
            row = conn.execute(_LOCK, {"key": self.key}).one()
        now: datetime = row.now
        ends = list(row.recent_ends)
        if row.holder is not None and row.lease_until > now:  # a call is in flight
            poll = self.poll_seconds * random.uniform(0.5, 1.5)
            # when it ends it becomes the newest end, so the window is decided by the one before it
            earliest = max(now + timedelta(seconds=poll), row.not_before, self._window_opens(ends, 1))
            return (earliest - now).total_seconds()
        if row.holder is not None:  # its holder died mid-call: count the call as ended when the lease did
            ends.append(row.lease_until)
            ends = ends[-self.capacity :]
            conn.execute(_FORGET_DEAD, {"key": self.key, "ends": ends, "now": now})
        earliest = max(row.not_before, self._window_opens(ends, 0))
        if earliest > now:
            return (earliest - now).total_seconds()
        conn.execute(
            _GRANT, {"key": self.key, "holder": holder, "now": now, "lease": self.lease_seconds, "ends": ends}
        )
        return 0.0

    def _window_opens(self, ends: list[datetime], in_flight: int) -> datetime:
        """When the next call may start: the `capacity`-th most recent end (counting calls in flight) plus
        the window."""
        index = self.capacity - in_flight
        if index <= 0 or len(ends) < index:
            return _EPOCH
        return ends[-index] + timedelta(seconds=self.window + self.margin)

    def _renew(self, holder: str, stop: threading.Event) -> None:
        while not stop.wait(self.lease_seconds / 3):
            try:
                self._run(
                    lambda conn: conn.execute(
                        _RENEW, {"key": self.key, "holder": holder, "lease": self.lease_seconds}
                    )
                )
            except DatabaseUnavailable:
                return  # the lease then expires: others may call after lease_seconds

    @property
    def engine(self) -> Engine:
        """Resolved at the first call, so building a client never needs the database."""
        if not isinstance(self._engine, Engine):
            try:
                self._engine = self._engine()
            except DatabaseUnavailable as error:
                raise DatabaseUnavailable(
                    f"the API rate limit is shared through the warehouse: {error}"
                ) from None
        return self._engine

    def _run(self, work: Callable[[Connection], float | object]):
        """One short transaction; database trouble becomes one line that says where the limit lives."""
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
                return work(conn)
        except sa.exc.ProgrammingError as error:
            if "api_rate_limits" in str(error.orig or ""):
                raise DatabaseUnavailable(
                    f"the shared API rate limit needs table {TABLE}: run `organizer db upgrade`"
                ) from None
            raise
        except sa.exc.OperationalError as error:
            first = str(error.orig or error).strip().splitlines()[0]
            raise DatabaseUnavailable(
                f"the shared API rate limit ({TABLE}) is unreachable: {first}"
            ) from None


_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
