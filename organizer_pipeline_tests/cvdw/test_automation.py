"""The 4-hourly schedule and the change sensor."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from organizer_pipeline.cvdw.endpoints import ENDPOINTS
from organizer_pipeline.cvdw.partitions import today
from organizer_pipeline.cvdw.schedules import cvdw_every_4h
from organizer_pipeline.cvdw.sensors import cvdw_changes
from organizer_pipeline.db import urls
from organizer_pipeline_tests.cvdw.conftest import fast_client

START, END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def test_schedule_runs_yesterday_and_today_in_sao_paulo_as_one_run():
    assert cvdw_every_4h.cron_schedule == "0 6,10,14,18,22 * * *"
    assert cvdw_every_4h.execution_timezone == "America/Sao_Paulo"
    assert cvdw_every_4h.default_status == dg.DefaultScheduleStatus.RUNNING
    # 01:30 UTC on 11 March is still 10 March in São Paulo (UTC-3)
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2024, 3, 11, 1, 0, tzinfo=UTC))
    request = cvdw_every_4h.evaluate_tick(context).run_requests[0]
    assert (request.tags[START], request.tags[END]) == ("2024-03-09", "2024-03-10")
    assert request.partition_key_range.start == "2024-03-09"


def test_the_schedules_run_request_executes_as_one_run(simulator, db_url, engine):
    """What the daemon launches: the cvdw_sync job with the schedule's range tags."""
    from organizer_pipeline.cvdw.assets import ASSETS
    from organizer_pipeline.cvdw.schedules import cvdw_sync
    from organizer_pipeline.resources.warehouse import Warehouse

    sim, base_url = simulator(n_reservas=400, start=(today() - timedelta(days=3)).isoformat(), days=5)
    now = datetime.now(UTC)
    request = cvdw_every_4h.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=now)
    ).run_requests[0]
    resources = {"cvdw": fast_client(base_url), "warehouse": Warehouse(database_url=urls.render(db_url))}
    job = dg.Definitions(assets=ASSETS, jobs=[cvdw_sync], resources=resources).resolve_job_def("cvdw_sync")
    result = job.execute_in_process(tags=request.tags)
    assert result.success
    partitions = {e.materialization.partition for e in result.get_asset_materialization_events()}
    assert partitions == {request.tags[START], request.tags[END]}
    with engine.connect() as conn:
        snapshot_days = (
            conn.execute(sa.text("SELECT DISTINCT dia FROM core.unidades_situacao_diaria")).scalars().all()
        )
        stored = conn.execute(sa.text("SELECT count(*) FROM core.reservas")).scalar_one()
    assert snapshot_days == [today()]
    want = sim.dataset.select("reservas", f"{request.tags[START]} 00:00:00", f"{request.tags[END]} 23:59:59")
    assert stored == len(want) > 0


def evaluate(instance, base_url, cursor):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"cvdw": fast_client(base_url)}
    )
    result = cvdw_changes(context)
    return result.run_requests, result.cursor


def test_change_sensor_runs_only_what_changed(simulator):
    sim, base_url = simulator(n_reservas=900)
    with dg.instance_for_test() as instance:
        runs, cursor = evaluate(instance, base_url, None)
        assert runs == []  # first look: baseline only
        baseline = json.loads(cursor)
        assert set(baseline) == {e.name for e in ENDPOINTS}
        assert baseline["reservas"] == [sim.dataset.rows("reservas")[-1]["referencia_data"], 1]
        calls_before = sim.requests
        runs, cursor = evaluate(instance, base_url, cursor)
        assert runs == [] and json.loads(cursor) == baseline
        # one one-row probe per endpoint, two where several rows share the newest timestamp
        assert len(ENDPOINTS) <= sim.requests - calls_before <= 2 * len(ENDPOINTS)
        moment = datetime.now().replace(microsecond=0) - timedelta(minutes=5)
        sim.dataset.update("reservas", 7, at=moment, ativo="N")
        runs, cursor = evaluate(instance, base_url, cursor)
        assert len(runs) == 1
        keys = {key.to_user_string() for key in runs[0].asset_selection}
        assert keys == {"reservas", "empreendimentos"}
        assert runs[0].tags[END] == today().isoformat() and runs[0].run_key.startswith("cvdw-changes-")
        assert json.loads(cursor)["reservas"] == [moment.strftime("%Y-%m-%d %H:%M:%S"), 1]
        # another row changed in the same second as the newest one seen: still noticed
        sim.dataset.update("reservas", 8, at=moment, ativo="N")
        runs, cursor = evaluate(instance, base_url, cursor)
        assert len(runs) == 1 and json.loads(cursor)["reservas"] == [moment.strftime("%Y-%m-%d %H:%M:%S"), 2]
        again, _ = evaluate(instance, base_url, cursor)
        assert again == []


def test_live_simulator_changes_are_what_the_sensor_picks_up(simulator):
    sim, base_url = simulator(n_reservas=500, live_changes_every=0.2)
    with dg.instance_for_test() as instance:
        runs, cursor = evaluate(instance, base_url, None)
        assert runs == []
        time.sleep(0.3)
        runs, cursor = evaluate(instance, base_url, cursor)
        assert len(runs) == 1 and "reservas" in {k.to_user_string() for k in runs[0].asset_selection}
        changed = [row for row in sim.dataset.rows("reservas") if row.get("situacao") == "Cancelada"]
        assert len(changed) == sim.changes >= 1 and all(row["ativo"] == "N" for row in changed)
