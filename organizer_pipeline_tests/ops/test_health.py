"""db_health: each check, the failing/recovering database, the job's visible failure, and /health."""

import shutil
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from organizer_pipeline import settings
from organizer_pipeline.db import migrate, urls
from organizer_pipeline.db.embedded import EmbeddedPostgres, free_port
from organizer_pipeline.db.engine import ensure_database, get_engine
from organizer_pipeline.ops import health
from organizer_pipeline.ops.jobs import db_health_job
from organizer_pipeline.resources.warehouse import Warehouse
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline.web.app import create_app


def by_name(results):
    return {result.name: result for result in results}


def test_all_checks_pass_on_a_fresh_warehouse(db_url):
    results = by_name(health.run_checks(db_url))
    assert set(results) == {"connection", "migrations", "database_size", "inbox_backlog", "cvdw_freshness"}
    assert all(result.ok for result in results.values()), results
    assert results["database_size"].value > 1_000_000


def test_backlog_and_freshness_fail_and_the_job_run_fails(db_url, engine):
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into hotmart.webhook_inbox (event_id, event, payload, received_at, processed_at) values "
                "('old', 'PURCHASE_APPROVED', '{}', :old, null), ('new', 'PURCHASE_APPROVED', '{}', :new, null), "
                "('done', 'PURCHASE_APPROVED', '{}', :old, :new)"
            ),
            {"old": now - timedelta(minutes=30), "new": now - timedelta(minutes=2)},
        )
        conn.execute(
            sa.text("insert into core.reservas (referencia, row_hash, updated_at) values ('r1', 'h', :at)"),
            {"at": now - timedelta(hours=30)},
        )
    results = by_name(health.run_checks(db_url))
    assert not results["inbox_backlog"].ok and results["inbox_backlog"].value == 1
    assert not results["cvdw_freshness"].ok and 29.9 < results["cvdw_freshness"].value < 30.1

    run = db_health_job.execute_in_process(
        resources={"warehouse": Warehouse(database_url=urls.render(db_url))}, raise_on_error=False
    )
    assert not run.success
    failure = run.get_step_failure_events()[0].event_specific_data.error.message
    assert "inbox_backlog" in failure and "cvdw_freshness" in failure
    last = health.latest_results(engine)
    assert last["ok"] is False and last["checks"]["migrations"]["ok"] is True
    assert last["checks"]["inbox_backlog"]["value"] == 1


def test_migrations_behind_head_fail(db_url, engine):
    with engine.begin() as conn:
        conn.execute(sa.text("update ops.alembic_version set version_num = '0003_hotmart'"))
    result = by_name(health.run_checks(db_url))["migrations"]
    assert not result.ok and "organizer db upgrade" in result.detail


def test_health_endpoint_shows_the_last_db_health_result(db_url, engine):
    with serve_in_thread(create_app(urls.render(db_url))) as root:
        before = requests.get(f"{root}/health", timeout=10).json()
        health.record_results(engine, health.run_checks(db_url), run_id="r1")
        after = requests.get(f"{root}/health", timeout=10)
    assert before["db_health"] is None
    body = after.json()
    assert after.status_code == 200 and body["status"] == "ok" and body["database"] == "ok"
    assert body["db_health"]["ok"] is True and body["db_health"]["checks"]["migrations"]["ok"] is True


@pytest.fixture
def throwaway_server():
    """A separate embedded server we may stop and start without disturbing the session's test server."""
    server = EmbeddedPostgres(settings.STATE_DIR / f"test-health-{uuid.uuid4().hex[:8]}", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


def test_health_fails_when_the_database_stops_and_recovers(throwaway_server):
    url = urls.normalize(throwaway_server.url("organizer"))
    ensure_database(url)
    migrate.upgrade(url)
    warehouse = Warehouse(database_url=urls.render(url))
    assert all(result.ok for result in health.run_checks(url))

    throwaway_server.stop()
    down = health.run_checks(url)
    assert [(r.name, r.ok) for r in down] == [("connection", False)]
    assert "cannot connect" in down[0].detail and "is the server running" in down[0].detail
    run = db_health_job.execute_in_process(resources={"warehouse": warehouse}, raise_on_error=False)
    assert not run.success
    with serve_in_thread(create_app(urls.render(url))) as root:
        assert requests.get(f"{root}/health", timeout=15).status_code == 503

        throwaway_server.start()
        assert all(result.ok for result in health.run_checks(url))
        assert db_health_job.execute_in_process(resources={"warehouse": warehouse}).success
        body = requests.get(f"{root}/health", timeout=15).json()
    assert body["database"] == "ok" and body["db_health"]["ok"] is True
    get_engine(url).dispose()


def test_a_recent_sync_keeps_unchanged_cvdw_data_fresh(db_url, engine):
    """A quiet weekend changes no row; the CVDW sync log (cvdw's migration) still proves the pull runs."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into core.reservas (referencia, row_hash, updated_at) values ('r1', 'h', now() - interval '3 days')"
            )
        )
        conn.execute(
            sa.text(
                "insert into raw.cvdw_sync_windows (endpoint, total_de_registros, rows_fetched, pages, synced_at)"
                " values ('reservas', 0, 0, 1, now() - interval '2 hours')"
            )
        )
    result = health.check_cvdw_freshness(engine)
    assert result.ok and 1.9 < result.value < 2.1
