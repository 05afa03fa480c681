"""The `cvdw_changes` sensor fits its tick (#15.5): requests per tick, the time box, the cursor that keeps
partial progress. At the real 20 requests/minute with latency: test_real_minute.py."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

from organizer_pipeline.cvdw import sensors
from organizer_pipeline.cvdw.endpoints import ENDPOINTS
from organizer_pipeline.cvdw.sensors import Cursor, plan
from organizer_pipeline_tests.cvdw.conftest import fast_client

NAMES = [endpoint.name for endpoint in ENDPOINTS]


def requests_of(sim, api, cursor: Cursor, **kwargs) -> tuple[int, sensors.Plan]:
    before = sim.requests
    result = plan(api, cursor, **kwargs)
    return sim.requests - before, result


def test_requests_per_tick_are_what_the_docs_say(simulator):
    """docs/cvdw.md quotes these counts."""
    sim, base_url = simulator(n_reservas=900)
    api = fast_client(base_url).get_api()
    first, result = requests_of(sim, api, Cursor())
    # first look: 1 request for an endpoint of at most PROBE_ROWS rows, else 2 (its first and a tail page)
    sizes = [len(sim.dataset.select(e.path.strip("/"), None, None)) for e in ENDPOINTS]
    assert first == sum(1 if size <= sensors.PROBE_ROWS else 2 for size in sizes)
    assert 1 in [min(size // sensors.PROBE_ROWS, 1) for size in sizes]  # both kinds occur
    assert result.probed == NAMES and result.changed == {}
    quiet, result = requests_of(sim, api, result.cursor)
    assert quiet == len(ENDPOINTS) and result.changed == {}
    moment = datetime.now().replace(microsecond=0) - timedelta(minutes=5)
    sim.dataset.update("reservas", 3, at=moment, ativo="N")
    one_change, result = requests_of(sim, api, result.cursor)
    assert one_change == len(ENDPOINTS) and set(result.changed) == {"reservas"}
    for index in range(10, 10 + sensors.PROBE_ROWS + 5):  # more changed rows than one probe page holds
        sim.dataset.update("reservas", index, at=moment + timedelta(seconds=index))
    many, result = requests_of(sim, api, result.cursor)
    assert many == len(ENDPOINTS) + 1 and set(result.changed) == {"reservas"}
    later = moment + timedelta(minutes=2)
    for index in range(200, 200 + sensors.TAIL_ROWS + 130):  # a bulk edit: 150 rows in one second
        sim.dataset.update("reservas", index, at=later)
    bulk, result = requests_of(sim, api, result.cursor)
    assert bulk == len(ENDPOINTS) + 2 and result.cursor.seen["reservas"] == [
        later.strftime(sensors.WIRE_FORMAT),
        150,
    ]


def test_a_slow_api_stops_the_round_at_the_budget_and_the_next_tick_goes_on(simulator):
    sim, base_url = simulator(n_reservas=600, slow_every=1, slow_seconds=0.3)
    api = fast_client(base_url).get_api()
    cursor, ticks, probed = Cursor(), 0, []
    while set(cursor.seen) != set(NAMES):
        started = time.monotonic()
        result = plan(api, cursor, latest_start=started + 1.5)
        # no request starts after the deadline: one request past it at most
        assert time.monotonic() - started < 1.5 + 0.3 + 1.0
        assert result.probed and result.probed[0] == (cursor.next or NAMES[0])  # goes on where it stopped
        assert result.stopped is None or "tick budget" in result.stopped
        probed += result.probed
        cursor, ticks = result.cursor, ticks + 1
        assert ticks <= len(NAMES)
    assert ticks > 1 and set(probed) == set(NAMES)
    sim.dataset.update("distratos", 0, ativo="N")
    for _ in range(len(NAMES)):
        result = plan(api, cursor, latest_start=time.monotonic() + 1.5)
        cursor = result.cursor
        if result.changed:
            break
    assert set(result.changed) == {"distratos"}


def test_the_cursor_of_the_previous_release_is_read():
    legacy = json.dumps({"reservas": ["2024-01-02 03:04:05", 2]})
    cursor = Cursor.parse(legacy)
    assert cursor.seen == {"reservas": ["2024-01-02 03:04:05", 2]} and cursor.next is None
    assert Cursor.parse(cursor.dumps()) == cursor
