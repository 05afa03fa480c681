"""Request economy, adaptive splitting and resumable windows of `cvdw/sync.py`, counted on the simulator's
side: simulator over HTTP → our client → real PostgreSQL, without Dagster."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from organizer_pipeline.cvdw import checks
from organizer_pipeline.cvdw.endpoints import BY_NAME, ENDPOINTS
from organizer_pipeline.cvdw.sync import SyncOptions, SyncResult, sync_range
from organizer_pipeline.db import urls
from organizer_pipeline.resources.http import ApiUnavailable
from organizer_pipeline_tests.cvdw.conftest import fast_client
from organizer_pipeline_tests.cvdw.test_assets import expected, stored

# A sparse ten-year history: under one reserva a day, every endpoint far below a page a month.
TEN_YEARS = dict(n_reservas=3000, start="2015-01-01", days=3653)
FIRST, LAST = date(2015, 1, 1), date(2024, 12, 31)
SINCE, UNTIL = "2015-01-01 00:00:00", "2024-12-31 23:59:59"


def sync(base_url, engine, name="reservas", *, client=None, **options) -> SyncResult:
    api = fast_client(base_url, **(client or {})).get_api()
    options.setdefault("run_id", "run-1")
    result, _ = sync_range(api, engine, BY_NAME[name], FIRST, LAST, options=SyncOptions(**options))
    return result


def pages_of(sim, name: str, since: str = SINCE, until: str = UNTIL) -> int:
    return max(1, math.ceil(len(sim.dataset.select(BY_NAME[name].path.strip("/"), since, until)) / 500))


def windows(engine, name="reservas") -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT window_start, window_end, pages, total_pages, completed_at IS NOT NULL"
                " FROM raw.cvdw_sync_windows WHERE endpoint = :e ORDER BY window_start"
            ),
            {"e": name},
        ).all()


def test_a_ten_year_range_costs_one_request_per_page_of_each_endpoint(recorded, engine):
    sim, base_url, recorder = recorded(**TEN_YEARS)
    bound = 0
    for endpoint in ENDPOINTS:
        path = endpoint.path.strip("/")
        result = sync(base_url, engine, endpoint.name)
        want = expected(sim, endpoint.name, SINCE, UNTIL)
        assert want and stored(engine, endpoint.name) == want, endpoint.name
        assert len(recorder.ok(path)) == result.requests == result.pages == pages_of(sim, endpoint.name)
        assert {(r.since, r.until) for r in recorder.ok(path)} == {(SINCE, UNTIL)}  # one window, no split
        bound += math.ceil(len(want) / 500) + 1
        with engine.connect() as conn:
            assert all(outcome.passed for outcome in checks.evaluate(conn, endpoint, "run-1")), endpoint.name
    assert len(recorder.requests) == len(recorder.ok()) <= bound  # Σ⌈rows/500⌉ + one per endpoint
    assert len(recorder.ok()) == sum(pages_of(sim, e.name) for e in ENDPOINTS) == 29


def test_a_window_the_api_refuses_is_halved_until_it_is_served(recorded, engine):
    sim, base_url, recorder = recorded(**TEN_YEARS, max_window_days=1000)
    result = sync(base_url, engine)
    assert stored(engine, "reservas") == expected(sim, "reservas", SINCE, UNTIL)
    refused = [r for r in recorder.requests if r.status == 400]
    # 3 653 days -> 1 826 + 1 827 -> four windows of 913-914 days: the whole window and both halves were refused
    assert len(refused) == 3 and result.windows_split == 3
    leaves = windows(engine)
    assert [(w[0].date(), w[1].date()) for w in leaves] == [
        (date(2015, 1, 1), date(2017, 7, 1)),
        (date(2017, 7, 2), date(2019, 12, 31)),
        (date(2020, 1, 1), date(2022, 7, 1)),
        (date(2022, 7, 2), date(2024, 12, 31)),
    ]
    assert all(w[4] and w[2] == w[3] for w in leaves)  # each finished, every page stored
    leaf_pages = sum(pages_of(sim, "reservas", f"{w[0]}", f"{w[1]}") for w in leaves)
    assert len(recorder.ok()) == result.requests == leaf_pages
    with engine.connect() as conn:
        outcome = checks.row_count_matches_api(conn, BY_NAME["reservas"], "run-1")
    assert outcome.passed and outcome.metadata["windows"] == 4


def test_a_window_whose_first_page_times_out_is_halved(recorded, engine):
    sim, base_url, recorder = recorded(**TEN_YEARS, max_window_days=2000, long_window_delay=2.0)
    client = dict(timeout_seconds=0.5, retry_attempts=2)
    result = sync(base_url, engine, client=client)
    assert stored(engine, "reservas") == expected(sim, "reservas", SINCE, UNTIL)
    assert result.windows_split == 1 and len(windows(engine)) == 2


def test_a_window_of_more_pages_than_one_window_should_hold_is_halved(recorded, engine):
    sim, base_url, recorder = recorded(**TEN_YEARS)
    result = sync(base_url, engine, max_window_pages=4)  # the whole window holds 6 pages
    assert stored(engine, "reservas") == expected(sim, "reservas", SINCE, UNTIL)
    assert result.windows_split == 1
    # the first page of the whole window told its size; then each half, page by page
    assert (
        len(recorder.ok())
        == result.requests
        == 1 + sum(pages_of(sim, "reservas", f"{w[0]}", f"{w[1]}") for w in windows(engine))
    )


def break_after(recorder, pages: int, base_url, engine, name: str, **options) -> None:
    """A run that dies after `pages` successful requests: CVDW answers 503 from then on."""
    recorder.fail_from = pages
    with pytest.raises(ApiUnavailable):  # the API's error itself, not psycopg2's aborted COPY
        sync(base_url, engine, name, **options)
    recorder.fail_from = None
    recorder.requests.clear()


# Resuming is shown on condições (light rows): 6 000 of them are 12 pages.
CONDICOES = "reservas_condicoes"


def test_an_interrupted_window_resumes_without_reading_stored_pages_again(recorded, engine):
    sim, base_url, recorder = recorded(**TEN_YEARS)
    total = pages_of(sim, CONDICOES)
    assert total == 12
    break_after(recorder, 5, base_url, engine, name=CONDICOES, run_id="killed")
    (checkpoint,) = windows(engine, CONDICOES)
    assert checkpoint[2:] == (5, 12, False)  # every page that arrived was committed
    assert len(stored(engine, CONDICOES)) == 5 * 500
    said: list[str] = []
    result = sync(base_url, engine, CONDICOES, run_id="new-run", log=said.append)
    assert [r.page for r in recorder.ok()] == list(range(6, total + 1))  # pages 1-5 are not requested again
    assert stored(engine, CONDICOES) == expected(sim, CONDICOES, SINCE, UNTIL)
    assert (result.windows_resumed, result.pages_resumed, result.pages) == (1, 5, 7)
    assert any("resuming at page 6 of 12" in line for line in said)
    assert any("page 12/12 stored" in line and "(done)" in line for line in said)
    assert windows(engine, CONDICOES)[0][2:] == (12, 12, True)


def test_a_resumed_window_steps_back_over_rows_that_left_it(recorded, engine):
    sim, base_url, recorder = recorded(**TEN_YEARS)
    break_after(recorder, 5, base_url, engine, name=CONDICOES)
    # Ten of the stored rows are edited meanwhile: CV moves them to now, out of the window; every later
    # row moves ten positions up, so page 6 now starts ten rows after where the first attempt stopped.
    for index in range(10):
        sim.dataset.update("reservas/condicoes", index, at=datetime(2026, 1, 1))
    sync(base_url, engine, CONDICOES, run_id="new-run")
    assert stored(engine, CONDICOES) >= expected(sim, CONDICOES, SINCE, UNTIL)
    assert sorted(r.page for r in recorder.ok()) == list(range(5, 13))  # one page back, then on


def test_a_new_run_reads_a_finished_window_again_but_a_reexecution_does_not(recorded, engine):
    sim, base_url, recorder = recorded(**TEN_YEARS)
    sync(base_url, engine, run_id="first")
    pages = pages_of(sim, "reservas")
    recorder.requests.clear()
    sync(base_url, engine, run_id="second")  # e.g. the 4-hourly schedule: data change, read it again
    assert len(recorder.ok()) == pages
    recorder.requests.clear()
    again = sync(base_url, engine, run_id="second-retry", root_run_id="second")
    assert recorder.requests == [] and (again.windows, again.pages_resumed) == (1, pages)


def test_a_reexecution_of_a_split_backfill_keeps_what_it_finished(recorded, engine):
    sim, base_url, recorder = recorded(**TEN_YEARS, max_window_days=1000)
    # refused: the whole window, its first half; then the first quarter (2 pages), page 1 of the second; dies
    break_after(recorder, 5, base_url, engine, "reservas", run_id="first")
    first_quarter, second_quarter = "2015-01-01 00:00:00", "2017-07-02 00:00:00"
    sync(base_url, engine, run_id="retry", root_run_id="first")
    assert stored(engine, "reservas") == expected(sim, "reservas", SINCE, UNTIL)
    refused = [(r.since, r.until) for r in recorder.requests if r.status == 400]
    assert refused == [("2020-01-01 00:00:00", UNTIL)]  # only the half the first attempt never reached
    assert not [r for r in recorder.ok() if r.since == first_quarter]  # finished: kept
    assert [r.page for r in recorder.ok() if r.since == second_quarter] == [2]  # resumed after page 1


def test_a_stale_checkpoint_is_read_from_the_first_page(recorded, engine):
    sim, base_url, recorder = recorded(**TEN_YEARS)
    break_after(recorder, 5, base_url, engine, name=CONDICOES)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE raw.cvdw_sync_windows SET synced_at = now() - interval '25 hours'"))
    result = sync(base_url, engine, CONDICOES, run_id="next-day")
    assert [r.page for r in recorder.ok()] == list(range(1, 13)) and result.windows_resumed == 0


def test_under_a_rate_limit_every_page_is_committed_as_it_arrives(recorded, engine):
    # Under the real limit the next page is seconds away: here every answer takes 0.5 s (the shared limiter
    # lets a burst of N requests through at once, so a limit alone would not space a 6-page window).
    sim, base_url, recorder = recorded(**TEN_YEARS, slow_every=1, slow_seconds=0.5)
    result = sync(base_url, engine)
    assert result.pages == 6 and 6 <= result.commits <= 7


KILLED_RUN = """
import sys
from datetime import date
from organizer_pipeline.cvdw.endpoints import BY_NAME
from organizer_pipeline.cvdw.sync import SyncOptions, sync_range
from organizer_pipeline.db.engine import get_engine
from organizer_pipeline.db.urls import normalize
from organizer_pipeline_tests.cvdw.conftest import fast_client
api = fast_client(sys.argv[1], max_requests_per_minute=300).get_api()
sync_range(api, get_engine(normalize(sys.argv[2])), BY_NAME[sys.argv[3]], date(2015, 1, 1), date(2024, 12, 31),
           options=SyncOptions(run_id="killed"))
"""


def test_a_killed_process_leaves_what_it_committed_and_the_next_run_goes_on_from_there(
    recorded, db_url, engine
):
    sim, base_url, recorder = recorded(**TEN_YEARS)
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUN, base_url, urls.render(db_url), CONDICOES])
    try:
        deadline = time.monotonic() + 60
        while len(recorder.ok()) < 5 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        process.kill()  # SIGKILL: no clean-up of any kind
    finally:
        process.wait()
    (checkpoint,) = windows(engine, CONDICOES)
    kept = checkpoint[2]
    assert 1 <= kept < 12 and not checkpoint[4] and len(stored(engine, CONDICOES)) == kept * 500
    recorder.requests.clear()
    result = sync(base_url, engine, CONDICOES, run_id="next")
    assert [r.page for r in recorder.ok()] == list(range(kept + 1, 13))
    assert (
        stored(engine, CONDICOES) == expected(sim, CONDICOES, SINCE, UNTIL) and result.pages_resumed == kept
    )
