"""The inbox sensor and the hotmart assets, with a real Dagster instance and database."""

import copy
import time
from collections import Counter

import dagster as dg
import pytest
import sqlalchemy as sa

from organizer_pipeline.db import urls
from organizer_pipeline.definitions import defs
from organizer_pipeline.hotmart import processing, sensors
from organizer_pipeline.hotmart.assets import hotmart_inbox
from organizer_pipeline.hotmart.payloads import parse_event
from organizer_pipeline.hotmart.sensors import RecentRun, hold_back, hotmart_inbox_sensor
from organizer_pipeline.resources.warehouse import Warehouse
from organizer_pipeline.sandbox import hotmart as generator
from organizer_pipeline_tests.hotmart.helpers import rows, store

S = dg.DagsterRunStatus
NOW = 1_800_000_000.0


def run(status, created=NOW - 3600, started=None, ended=None, run_id="r0000000"):
    return RecentRun(run_id, status, created, started, ended)


def pending_count(engine):
    return rows(engine, "SELECT count(*) AS n FROM hotmart.webhook_inbox WHERE processed_at IS NULL")[0]["n"]


@pytest.fixture
def tick(db_url, monkeypatch):
    """Evaluate the sensor once against the test's database and a Dagster instance; `tick.wait(s)` moves
    the sensor's clock on (instead of waiting out the 30 s between runs)."""
    warehouse = Warehouse(database_url=urls.render(db_url))
    ahead = [0.0]
    monkeypatch.setattr(sensors, "clock", lambda: time.time() + ahead[0])
    with dg.instance_for_test() as instance:

        def evaluate():
            context = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
            return hotmart_inbox_sensor(context)

        def execute(request):
            return defs.resolve_job_def("hotmart_inbox_job").execute_in_process(
                run_config=request.run_config,
                instance=instance,
                resources={"warehouse": warehouse},
                tags=request.tags,
                raise_on_error=False,
            )

        def wait(seconds):
            ahead[0] += seconds

        evaluate.instance, evaluate.execute, evaluate.wait = instance, execute, wait
        yield evaluate


def test_definitions_expose_the_contract():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"hotmart_sales", "hotmart_contacts"} <= keys
    sensor = defs.resolve_sensor_def("hotmart_inbox_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 10 and sensors.RUN_SPACING_SECONDS == 30
    spec_groups = {spec.key.to_user_string(): spec.group_name for spec in hotmart_inbox.specs}
    assert spec_groups == {"hotmart_sales": "hotmart", "hotmart_contacts": "hotmart"}


@pytest.mark.parametrize(
    ("in_flight", "finished", "held"),
    [
        ([], [], None),
        ([], [run(S.SUCCESS, created=NOW - 29, ended=NOW - 20)], "at most one per 30 s"),
        ([], [run(S.SUCCESS, created=NOW - 30, ended=NOW - 20)], None),
        ([run(S.QUEUED, created=NOW - 3600)], [], "queued"),  # a full run queue: wait, whatever its age
        ([run(S.STARTED, started=NOW - 60)], [], "started"),
        ([run(S.STARTED, started=NOW - 3600)], [], None),  # its worker died: it no longer holds back
        ([], [run(S.FAILURE, ended=NOW - 1)], None),  # one failure: the next tick retries
        ([], [run(S.FAILURE, ended=NOW - 10), run(S.FAILURE)], "backing off after 2 failed runs"),
        ([], [run(S.FAILURE, ended=NOW - 61), run(S.FAILURE)], None),
        ([], [run(S.FAILURE, ended=NOW - 500)] * 6, "backing off after 6 failed runs"),
        ([], [run(S.FAILURE, ended=NOW - 601)] * 12, None),  # at most 10 minutes apart
        ([], [run(S.SUCCESS, ended=NOW - 1), run(S.FAILURE), run(S.FAILURE)], None),
    ],
)
def test_hold_back(in_flight, finished, held):
    reason = hold_back(NOW, in_flight, finished)
    assert reason == held if held is None else held in reason


def test_sensor_requests_one_bounded_run_and_waits_for_it(engine, tick, monkeypatch):
    monkeypatch.setattr(sensors, "RUN_BOUND", 40)
    store(engine, generator.generate(100, seed=9))
    request = tick()
    assert isinstance(request, dg.RunRequest)
    assert request.run_config["ops"]["hotmart_inbox"]["config"]["max_events"] == 40
    assert request.tags["hotmart/pending"] == "100"
    assert tick().run_key == request.run_key  # evaluated again: the same key, so never launched twice

    outcome = tick.execute(request)
    assert outcome.success and pending_count(engine) == 60
    assert "at most one per 30 s" in tick().skip_message
    tick.wait(30)
    tags = tick.instance.get_run_by_id(outcome.run_id).tags
    assert (tags["hotmart/events"], tags["hotmart/applied"], tags["hotmart/failed"]) == ("40", "40", "0")
    materialized = {e.asset_key.to_user_string() for e in outcome.get_asset_materialization_events()}
    assert materialized == {"hotmart_sales", "hotmart_contacts"}

    queued = tick.instance.create_run_for_job(defs.resolve_job_def("hotmart_inbox_job"))
    tick.wait(30)
    skipped = tick()
    assert isinstance(skipped, dg.SkipReason) and "60 pending" in skipped.skip_message
    tick.instance.report_run_canceled(queued)
    tick.wait(30)
    following = tick()
    assert isinstance(following, dg.RunRequest) and following.run_key != request.run_key
    assert tick.execute(following).success and pending_count(engine) == 20
    tick.wait(30)
    assert tick.execute(tick()).success and pending_count(engine) == 0
    assert "no pending" in tick().skip_message


def test_a_failed_run_heals_on_the_next_tick_once_the_cause_is_gone(engine, tick, monkeypatch):
    """#15.3: the run fails (a migration holds hotmart.sales); once the lock is gone the next tick's run
    applies the events. The old sensor remembered them as requested and waited for 10,000 newer ids."""
    monkeypatch.setattr(processing, "LOCK_TIMEOUT", "300ms")
    store(engine, generator.generate(30, seed=21))
    blocker = engine.connect()
    transaction = blocker.begin()
    blocker.execute(sa.text("LOCK TABLE hotmart.sales IN ACCESS EXCLUSIVE MODE"))
    try:
        first = tick()
        failed = tick.execute(first)
        assert not failed.success
    finally:
        transaction.rollback()
        blocker.close()
    inbox = rows(engine, "SELECT attempts, last_error FROM hotmart.webhook_inbox")
    assert all(r["attempts"] == 1 and "lock timeout" in r["last_error"] for r in inbox)

    tick.wait(30)
    retry = tick()  # the first tick the 30 s spacing allows
    assert isinstance(retry, dg.RunRequest) and retry.run_key != first.run_key
    assert tick.execute(retry).success
    assert pending_count(engine) == 0
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.events") == [{"n": 30}]


def test_the_poison_event_fails_alone_and_nothing_personal_reaches_the_event_log(engine, tick):
    """#15.2, the reported scenario: a valid envelope with installments_number = 3,000,000,000 among
    innocent events. They are applied; it is failed with its reason; no e-mail reaches Dagster."""
    events = generator.generate(40, seed=22)
    owners = Counter(parse_event(e).email for e in events)
    emails = set(owners) - {None}
    transactions = Counter(parse_event(e).transaction for e in events)
    poison_index = next(  # its sale has no other event to take `installments` from
        i
        for i, e in enumerate(events)
        if e["event"] == "PURCHASE_APPROVED" and transactions[parse_event(e).transaction] == 1
    )
    poison = copy.deepcopy(events[poison_index])
    poison["data"]["purchase"]["payment"]["installments_number"] = 3_000_000_000
    events[poison_index] = poison
    # A second poison only the database can tell: a constraint refusing one contact, whose error DETAIL
    # ("Failing row contains (…)") carries the e-mail, name, phone and CPF.
    victim = next(e for e in events[poison_index + 1 :] if owners[parse_event(e).email] == 1)
    victim_email = parse_event(victim).email
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"ALTER TABLE hotmart.contacts ADD CONSTRAINT refused CHECK (email <> '{victim_email}')")
        )
    store(engine, events)

    outcome = tick.execute(tick())
    assert outcome.success
    failed = {
        r["event_id"]: r
        for r in rows(
            engine,
            "SELECT event_id, attempts, last_error FROM hotmart.webhook_inbox WHERE failed_at IS NOT NULL",
        )
    }
    assert set(failed) == {poison["id"], victim["id"]}
    assert (
        "installments 3000000000 does not fit hotmart.sales.installments"
        in failed[poison["id"]]["last_error"]
    )
    assert 'violates check constraint "refused"' in failed[victim["id"]]["last_error"]
    assert pending_count(engine) == 0
    assert rows(engine, "SELECT count(*) AS n FROM hotmart.events") == [{"n": 38}]

    [sales] = [m for m in outcome.get_asset_materialization_events() if m.asset_key.path == ["hotmart_sales"]]
    listed = sales.materialization.metadata["failed_events"].value
    assert {f["event_id"] for f in listed} == {poison["id"], victim["id"]}
    assert all(f["reason"] and f["attempts"] == 1 for f in listed)
    event_log = "\n".join(repr(entry) for entry in tick.instance.all_logs(outcome.run_id)).lower()
    assert "3000000000" in event_log  # the reasons are there…
    assert not [email for email in emails if email.lower() in event_log]  # …the people are not


def test_a_failed_run_carries_no_sql_parameters_or_personal_data(engine, tick, monkeypatch):
    monkeypatch.setattr(processing, "LOCK_TIMEOUT", "300ms")
    events = generator.generate(20, seed=23)
    store(engine, events)
    blocker = engine.connect()
    transaction = blocker.begin()
    blocker.execute(sa.text("LOCK TABLE hotmart.contacts IN ACCESS EXCLUSIVE MODE"))
    try:
        outcome = tick.execute(tick())
    finally:
        transaction.rollback()
        blocker.close()
    assert not outcome.success
    event_log = "\n".join(repr(entry) for entry in tick.instance.all_logs(outcome.run_id))
    assert "a batch of 20 events could not be applied and stays pending" in event_log
    assert "[SQL" not in event_log and "parameters" not in event_log
    emails = {parse_event(e).email for e in events} - {None}
    assert emails and not [email for email in emails if email in event_log.lower()]


@pytest.mark.slow
def test_materialize_without_config_processes_everything_pending(db_url, engine):
    store(engine, generator.generate(120, seed=10))
    result = dg.materialize(
        [hotmart_inbox], resources={"warehouse": Warehouse(database_url=urls.render(db_url))}
    )
    assert result.success
    assert pending_count(engine) == 0
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM hotmart.sales")).scalar() > 0
