"""The inbox sensor and the hotmart assets, with a real Dagster instance and database."""

import dagster as dg
import pytest
import sqlalchemy as sa

from organizer_pipeline.db import urls
from organizer_pipeline.definitions import defs
from organizer_pipeline.hotmart import sensors
from organizer_pipeline.hotmart.assets import hotmart_inbox
from organizer_pipeline.hotmart.sensors import Cursor, hotmart_inbox_sensor, plan
from organizer_pipeline.resources.warehouse import Warehouse
from organizer_pipeline.sandbox import hotmart as generator
from organizer_pipeline_tests.hotmart.helpers import rows, store


def pending(ids):
    return [(i, f"e{i}") for i in ids]


def test_plan_batches_and_remembers_what_it_requested():
    batches, cursor = plan(Cursor(), pending(range(1, 1201)))
    assert [len(b) for b in batches] == [500, 500, 200]
    assert cursor.hwm == 1200 and cursor.requested == [[1, 1200]]
    again, cursor = plan(cursor, pending(range(1, 1201)))  # still pending: runs not done yet
    assert again == []


def test_plan_picks_up_a_row_committed_late():
    _, cursor = plan(Cursor(), pending([1, 2, 3, 5, 6]))  # 4 was still in flight
    batches, cursor = plan(cursor, pending([1, 2, 3, 4, 5, 6, 7]))
    assert batches == [pending([4, 7])]
    assert cursor.requested == [[1, 7]]
    assert Cursor.load(cursor.dump()) == cursor


def test_plan_forgets_ids_below_the_overlap_window():
    _, cursor = plan(Cursor(), pending([1, 2, sensors.OVERLAP_IDS + 50]))
    assert cursor.requested == [[sensors.OVERLAP_IDS + 50, sensors.OVERLAP_IDS + 50]]
    assert cursor.was_requested(2)


def test_bad_cursor_starts_over():
    assert Cursor.load("not json") == Cursor()


def test_run_key_is_stable():
    assert sensors.run_key(["a", "b"]) == sensors.run_key(["a", "b"]) != sensors.run_key(["a", "c"])


def test_definitions_expose_the_contract():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"hotmart_sales", "hotmart_contacts"} <= keys
    sensor = defs.resolve_sensor_def("hotmart_inbox_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 10
    spec_groups = {spec.key.to_user_string(): spec.group_name for spec in hotmart_inbox.specs}
    assert spec_groups == {"hotmart_sales": "hotmart", "hotmart_contacts": "hotmart"}


@pytest.mark.slow
def test_sensor_requests_one_run_per_batch_and_the_run_applies_it(db_url, engine, monkeypatch):
    monkeypatch.setattr(sensors, "BATCH_SIZE", 40)
    store(engine, generator.generate(100, seed=9))
    warehouse = Warehouse(database_url=urls.render(db_url))
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
        result = hotmart_inbox_sensor(context)
        assert [
            len(r.run_config["ops"]["hotmart_inbox"]["config"]["event_ids"]) for r in result.run_requests
        ] == [40, 40, 20]
        assert len({r.run_key for r in result.run_requests}) == 3

        retried = hotmart_inbox_sensor(
            dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
        )
        assert [r.run_key for r in retried.run_requests] == [r.run_key for r in result.run_requests]

        nothing_new = hotmart_inbox_sensor(
            dg.build_sensor_context(
                instance=instance, cursor=result.cursor, resources={"warehouse": warehouse}
            )
        )
        assert not nothing_new.run_requests

        job = defs.resolve_job_def("hotmart_inbox_job")
        first = result.run_requests[0]
        outcome = job.execute_in_process(
            run_config=first.run_config, instance=instance, resources={"warehouse": warehouse}
        )
        assert outcome.success
        done = rows(engine, "SELECT count(*) AS n FROM hotmart.webhook_inbox WHERE processed_at IS NOT NULL")
        assert done == [{"n": 40}]
        materialized = {e.asset_key.to_user_string() for e in outcome.get_asset_materialization_events()}
        assert materialized == {"hotmart_sales", "hotmart_contacts"}


@pytest.mark.slow
def test_materialize_without_config_processes_everything_pending(db_url, engine):
    store(engine, generator.generate(120, seed=10))
    result = dg.materialize(
        [hotmart_inbox], resources={"warehouse": Warehouse(database_url=urls.render(db_url))}
    )
    assert result.success
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.webhook_inbox WHERE processed_at IS NULL") == [
        {"n": 0}
    ]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM hotmart.sales")).scalar() > 0


def test_sensor_requests_a_catch_up_for_events_stuck_below_the_window(db_url, engine):
    store(engine, generator.generate(3, seed=13))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE hotmart.webhook_inbox SET received_at = now() - interval '1 hour'"))
    cursor = Cursor(hwm=sensors.OVERLAP_IDS + 100)  # their ids are far below the window: requested long ago
    warehouse = Warehouse(database_url=urls.render(db_url))
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor.dump(), resources={"warehouse": warehouse}
        )
        result = hotmart_inbox_sensor(context)
    [request] = result.run_requests
    assert request.run_key.startswith("hotmart-catchup-") and not request.run_config
