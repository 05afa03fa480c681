"""The CVDW limit at its real per-minute semantics, where a test must wait for the minute to pass:

- #15.4 one limit for every caller: four endpoint steps of one run, each in its own process (multiprocess
  executor, no pool limit), at CVDW_MAX_REQUESTS_PER_MINUTE=4;
- #15.5 the change sensor at the real 20/min with simulated latency, on an account a run has half used.

The two scenarios use two accounts (two simulators, two limit rows) and run side by side, so the suite pays
the minute once. Each simulator times every request it serves."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from datetime import date

import dagster as dg

from organizer_pipeline.cvdw import sensors
from organizer_pipeline.cvdw.assets import ASSETS
from organizer_pipeline.cvdw.endpoints import BY_NAME, ENDPOINTS
from organizer_pipeline.cvdw.partitions import range_tags
from organizer_pipeline.db import urls
from organizer_pipeline.resources.cvdw import CvdwClient
from organizer_pipeline.resources.warehouse import Warehouse
from organizer_pipeline.sandbox.cvdw import Simulator
from organizer_pipeline_tests.calls import max_concurrency, max_in_window
from organizer_pipeline_tests.cvdw.conftest import EMAIL, TOKEN, fast_client

FOUR = ["reservas", "reservas_condicoes", "distratos", "atendimentos"]  # no deps between them
FIRST, LAST = date(2024, 1, 1), date(2024, 1, 10)


def four_endpoints_job() -> dg.JobDefinition:
    """Rebuilt in every step process (dg.reconstructable); the client reads its settings from the
    environment, like the deployed code location does."""
    defs = dg.Definitions(
        assets=ASSETS,
        jobs=[dg.define_asset_job("four_endpoints", selection=FOUR)],
        resources={"cvdw": CvdwClient(warehouse=Warehouse()), "warehouse": Warehouse()},
    )
    return defs.resolve_job_def("four_endpoints")


def calls_of(sim: Simulator) -> list[tuple[float, float]]:
    return [(start, end) for start, end, _ in sim.calls]


def sensor_scenario(sim: Simulator, base_url: str, db_url, report: dict) -> None:
    """A run has just made 12 requests; the sensor's ticks never wait past their budget, keep what they
    probed, finish the baseline once the minute allows it, then detect a change."""
    client = fast_client(
        base_url, max_requests_per_minute=20, warehouse=Warehouse(database_url=urls.render(db_url))
    )
    run = client.get_api()  # another process on the same account (its own limiter object)
    for _ in range(12):
        run.get_page("/reservas", 1, page_size=10)
    durations: list[float] = []
    with dg.instance_for_test() as instance:

        def tick(cursor: str | None) -> dg.SensorResult:
            with dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"cvdw": client}
            ) as context:
                started = time.monotonic()
                result = sensors.cvdw_changes(context)
                durations.append(time.monotonic() - started)
            return result

        first = tick(None)
        report["first_seen"] = len(json.loads(first.cursor)["seen"])
        report["first_skip"] = first.skip_reason.skip_message if first.skip_reason else ""
        cursor = first.cursor
        while set(json.loads(cursor)["seen"]) != {e.name for e in ENDPOINTS} and len(durations) < 40:
            time.sleep(3)  # a fast daemon
            cursor = tick(cursor).cursor
        sim.dataset.update("reservas", 5, ativo="N")
        runs: list = []
        while not runs and len(durations) < 60:
            result = tick(cursor)
            cursor, runs = result.cursor, result.run_requests
    report["baseline"] = set(json.loads(cursor)["seen"])
    report["runs"] = runs
    report["durations"] = durations


def in_background(work: Callable[[], None]) -> Callable[[], None]:
    """Start `work` in a thread; the returned join re-raises what it raised."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            failure.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join() -> None:
        thread.join(timeout=300)
        assert not thread.is_alive(), "the sensor scenario did not finish"
        if failure:
            raise failure[0]

    return join


def test_four_processes_keep_one_limit_of_4_per_minute_and_the_sensor_fits_its_tick_at_20(
    simulator, db_url, monkeypatch
):
    # Account A (the run): ~800 reservas in the range: 2 + 4 + 1 + 1 pages; every third answer takes 2 s, and
    # a slow response must not overlap the next request of another process.
    run_sim, run_url = simulator(
        n_reservas=800, start=FIRST.isoformat(), days=10, slow_every=3, slow_seconds=2
    )
    # Account B (the sensor): every third answer takes 1 s.
    sensor_sim, sensor_url = simulator(n_reservas=900, slow_every=3, slow_seconds=1.0)
    for name, value in {
        "CVDW_BASE_URL": run_url,
        "CVCRM_API_EMAIL": EMAIL,
        "CVCRM_API_TOKEN": TOKEN,
        "CVDW_MAX_REQUESTS_PER_MINUTE": "4",
    }.items():
        monkeypatch.setenv(name, value)
    pages = sum(
        max(1, math.ceil(len(run_sim.dataset.select(BY_NAME[e].path.strip("/"), f"{FIRST} 00:00:00",
                                                    f"{LAST} 23:59:59")) / 500))
        for e in FOUR
    )  # fmt: skip
    assert pages >= 6  # enough to need a second minute
    report: dict = {}
    join_sensor = in_background(lambda: sensor_scenario(sensor_sim, sensor_url, db_url, report))
    with dg.instance_for_test() as instance:
        result = dg.execute_job(
            dg.reconstructable(four_endpoints_job),
            instance=instance,
            tags=range_tags(FIRST, LAST),
            run_config={"execution": {"config": {"multiprocess": {"max_concurrent": 4}}}},
        )
        assert result.success
        records = instance.all_logs(result.run_id)
    join_sensor()

    # #15.4: the four steps really ran at once, and the simulator saw one request at a time, 4 per minute
    events = [(r.dagster_event.event_type_value, r.timestamp) for r in records if r.dagster_event]
    starts = [at for kind, at in events if kind == "STEP_START"]
    ends = [at for kind, at in events if kind == "STEP_SUCCESS"]
    assert len(starts) == len(ends) == 4 and max(starts) < min(ends)
    calls = calls_of(run_sim)
    assert len(calls) == run_sim.requests == pages
    assert max_concurrency(calls) == 1
    assert max_in_window([start for start, _ in calls], 60.0) <= 4

    # #15.5: the limit ran out mid-round (partial progress kept), every tick stayed in its budget, the
    # baseline completed and the change was found; the sensor's account kept 20 per minute too
    assert 0 < report["first_seen"] < len(ENDPOINTS) and "tick budget" in report["first_skip"]
    assert report["baseline"] == {e.name for e in ENDPOINTS}
    assert report["runs"] and "reservas" in {k.to_user_string() for k in report["runs"][0].asset_selection}
    durations = report["durations"]
    assert max(durations) < sensors.TICK_BUDGET_SECONDS
    sensor_calls = calls_of(sensor_sim)
    assert max_concurrency(sensor_calls) == 1
    assert max_in_window([start for start, _ in sensor_calls], 60.0) <= 20

    def span(calls: list[tuple[float, float]]) -> float:
        return max(start for start, _ in calls) - min(start for start, _ in calls)

    print(
        f"\nrun: {len(calls)} requests by 4 processes over {span(calls):.1f} s, max concurrency "
        f"{max_concurrency(calls)}, max {max_in_window([s for s, _ in calls], 60.0)} in any 60 s"
        f"\nsensor: {len(durations)} ticks, longest {max(durations):.1f} s "
        f"(budget {sensors.TICK_BUDGET_SECONDS:.0f} s), {len(sensor_calls)} requests over "
        f"{span(sensor_calls):.0f} s, max {max_in_window([s for s, _ in sensor_calls], 60.0)} in any 60 s, "
        f"max concurrency {max_concurrency(sensor_calls)}"
    )
