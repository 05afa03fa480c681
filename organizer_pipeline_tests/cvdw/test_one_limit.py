"""One CVDW limit for every caller (#15.4), at the real per-minute semantics of
CVDW_MAX_REQUESTS_PER_MINUTE: four endpoint steps of one run, each in its own process (multiprocess
executor, no pool limit), against one simulator that times every request it serves."""

from __future__ import annotations

import math
from datetime import date

import dagster as dg

from organizer_pipeline.cvdw.assets import ASSETS
from organizer_pipeline.cvdw.endpoints import BY_NAME
from organizer_pipeline.cvdw.partitions import range_tags
from organizer_pipeline.resources.cvdw import CvdwClient
from organizer_pipeline.resources.warehouse import Warehouse
from organizer_pipeline_tests.calls import max_concurrency, max_in_window
from organizer_pipeline_tests.cvdw.conftest import EMAIL, TOKEN

ENDPOINTS = ["reservas", "reservas_condicoes", "distratos", "atendimentos"]  # no deps between them
FIRST, LAST = date(2024, 1, 1), date(2024, 1, 10)


def four_endpoints_job() -> dg.JobDefinition:
    """Rebuilt in every step process (dg.reconstructable); the client reads its settings from the
    environment, like the deployed code location does."""
    defs = dg.Definitions(
        assets=ASSETS,
        jobs=[dg.define_asset_job("four_endpoints", selection=ENDPOINTS)],
        resources={"cvdw": CvdwClient(warehouse=Warehouse()), "warehouse": Warehouse()},
    )
    return defs.resolve_job_def("four_endpoints")


def test_four_endpoints_in_parallel_processes_keep_one_limit_of_4_per_minute(simulator, db_url, monkeypatch):
    # ~800 reservas in the range: 2 + 4 + 1 + 1 pages; every third answer takes 2 s (a slow response must
    # not overlap the next request of another process)
    sim, base_url = simulator(n_reservas=800, start=FIRST.isoformat(), days=10, slow_every=3, slow_seconds=2)
    for name, value in {
        "CVDW_BASE_URL": base_url,
        "CVCRM_API_EMAIL": EMAIL,
        "CVCRM_API_TOKEN": TOKEN,
        "CVDW_MAX_REQUESTS_PER_MINUTE": "4",
    }.items():
        monkeypatch.setenv(name, value)
    pages = sum(
        max(
            1,
            math.ceil(
                len(sim.dataset.select(BY_NAME[e].path.strip("/"), f"{FIRST} 00:00:00", f"{LAST} 23:59:59"))
                / 500
            ),
        )
        for e in ENDPOINTS
    )
    assert pages >= 6  # enough to need a second minute
    with dg.instance_for_test() as instance:
        result = dg.execute_job(
            dg.reconstructable(four_endpoints_job),
            instance=instance,
            tags=range_tags(FIRST, LAST),
            run_config={"execution": {"config": {"multiprocess": {"max_concurrent": 4}}}},
        )
        assert result.success
        records = instance.all_logs(result.run_id)
    starts = [
        r.timestamp for r in records if r.dagster_event and r.dagster_event.event_type_value == "STEP_START"
    ]
    ends = [
        r.timestamp for r in records if r.dagster_event and r.dagster_event.event_type_value == "STEP_SUCCESS"
    ]
    assert len(starts) == len(ends) == 4 and max(starts) < min(ends)  # the four steps really ran at once
    calls = [(start, end) for start, end, _ in sim.calls]
    assert len(calls) == sim.requests == pages
    assert max_concurrency(calls) == 1
    assert max_in_window([start for start, _ in calls], 60.0) <= 4
    span = max(start for start, _ in calls) - min(start for start, _ in calls)
    print(
        f"\n{len(calls)} requests by 4 processes over {span:.1f} s: max concurrency "
        f"{max_concurrency(calls)}, max {max_in_window([s for s, _ in calls], 60.0)} in any 60 s"
    )
