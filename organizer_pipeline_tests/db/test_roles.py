"""The least-privilege setup of docs/operations.md, exactly as an operator runs it: the admin runs
deploy/sql/roles.sql with psql, then everything — migrations included — runs as an app role that is no
superuser and owns its schemas and nothing else."""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid

import dagster as dg
import pytest
import requests
import sqlalchemy as sa

from organizer_pipeline import settings
from organizer_pipeline.db import urls
from organizer_pipeline.db.embedded import pg_binary
from organizer_pipeline.db.engine import get_engine, get_reader_engine
from organizer_pipeline.hotmart.assets import hotmart_inbox
from organizer_pipeline.kpi.build import build_all
from organizer_pipeline.resources.warehouse import Warehouse
from organizer_pipeline.sandbox import hotmart as generator
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline.web.app import create_app
from organizer_pipeline_tests.conftest import _admin, drop_database
from organizer_pipeline_tests.test_db import organizer

ROLES_SQL = settings.PROJECT_ROOT / "deploy" / "sql" / "roles.sql"
APP_SCHEMAS = {"raw", "core", "hotmart", "ai", "kpi", "ops"}
HOTTOK = "roles-test-hottok"


def psql(server, sql_file, **variables) -> subprocess.CompletedProcess:
    args = [str(pg_binary("psql")), "-X", "-q", "-h", server.host, "-p", str(server.port)]
    args += ["-U", server.username, "-d", server.database, "-f", str(sql_file)]
    for name, value in variables.items():
        args += ["-v", f"{name}={value}"]
    env = {**os.environ, "PGPASSWORD": server.password or "", "PGCONNECT_TIMEOUT": "10"}
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)


def as_app(*args, app_url, dagster_url) -> subprocess.CompletedProcess:
    """The CLI with only the app role's URLs (no other setting of the test's environment)."""
    env = {k: v for k, v in os.environ.items() if k not in settings.ENV_VARS}
    return organizer(
        *args, env=env | {"DATABASE_URL": urls.render(app_url), "DAGSTER_PG_URL": urls.render(dagster_url)}
    )


@pytest.fixture
def app_role(pg_server):
    """roles.sql run by the session's (admin) role; yields (warehouse URL, Dagster URL) as the app role."""
    with _admin(pg_server).connect() as conn:
        superuser = conn.execute(
            sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        ).scalar()
    if not superuser:
        pytest.skip("DATABASE_URL's role is no admin: it can neither create roles nor install pgvector")
    suffix = uuid.uuid4().hex[:10]
    role, password = f"organizer_app_{suffix}", secrets.token_urlsafe(16)
    database, dagster = f"t_{suffix}_app", f"t_{suffix}_app_dagster"
    try:
        result = psql(
            pg_server,
            ROLES_SQL,
            app_role=role,
            app_password=password,
            database=database,
            dagster_database=dagster,
        )
        assert result.returncode == 0, result.stderr
        app = pg_server.set(username=role, password=password, database=database)
        yield app, app.set(database=dagster)
    finally:
        for name in (database, dagster, f"t_{suffix}_novector"):
            drop_database(pg_server, name)
        with _admin(pg_server).connect() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))


def test_app_role_migrates_and_runs_everything_without_being_superuser(app_role, monkeypatch):
    app_url, dagster_url = app_role
    upgrade = as_app("db", "upgrade", app_url=app_url, dagster_url=dagster_url)
    assert upgrade.returncode == 0, upgrade.stderr
    engine = get_engine(app_url)
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
            is False
        )
        owned_schemas = set(
            conn.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspowner = current_user::regrole")
            ).scalars()
        )
        assert owned_schemas == APP_SCHEMAS
        outside, foreign = conn.execute(
            sa.text(
                "SELECT count(*) FILTER (WHERE mine AND NOT ours AND n.nspname <> 'pg_toast'), "  # TOAST: its table's
                "       count(*) FILTER (WHERE ours AND NOT mine) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, "
                "LATERAL (SELECT c.relowner = current_user::regrole AS mine, n.nspname = ANY(:schemas) AS ours) x"
            ),
            {"schemas": sorted(APP_SCHEMAS)},
        ).one()
        assert (outside, foreign) == (0, 0)  # it owns everything in its schemas, and nothing outside them
        database_owner = conn.execute(
            sa.text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        ).scalar()
        assert database_owner != app_url.username  # the admin's: the app cannot drop its warehouse
    with pytest.raises(sa.exc.ProgrammingError, match="must be owner of extension vector"):
        with engine.begin() as conn:
            conn.execute(sa.text("DROP EXTENSION vector"))

    # The web app as the app role: a webhook is stored, the dashboard reads.
    monkeypatch.setenv("HOTMART_HOTTOK", HOTTOK)
    with serve_in_thread(create_app(urls.render(app_url))) as root:
        event = generator.generate(1, seed=31)[0]
        stored = requests.post(
            f"{root}/webhooks/hotmart", json=event, headers={"X-HOTMART-HOTTOK": HOTTOK}, timeout=10
        )
        assert stored.status_code == 200 and stored.json()["status"] == "accepted", stored.text
        # A Dagster run of the hotmart assets, its run storage in Dagster's database as the app role.
        storage = {"storage": {"postgres": {"postgres_url": urls.render(dagster_url)}}}
        with dg.instance_for_test(overrides=storage) as instance:
            result = dg.materialize(
                [hotmart_inbox],
                instance=instance,
                resources={"warehouse": Warehouse(database_url=urls.render(app_url))},
            )
            assert result.success
            assert instance.get_run_record_by_id(result.run_id).dagster_run.is_success
        build_all(engine)  # the kpi views, created and owned by the app role
        dashboard = requests.get(f"{root}/dashboard", timeout=30)
        assert dashboard.status_code == 200, dashboard.text[:300]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM hotmart.sales")).scalar() == 1
        assert conn.execute(sa.text("SELECT to_regclass('kpi.vendas_mensal') IS NOT NULL")).scalar()
    with get_engine(dagster_url).connect() as conn:
        foreign = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> current_user"
            )
        ).scalar()
        assert foreign == 0  # Dagster's tables were created by (and belong to) the app role
    with pytest.raises(sa.exc.InternalError, match="read-only transaction"):
        with get_reader_engine(app_url).begin() as conn:
            conn.execute(sa.text("DELETE FROM hotmart.sales"))


def test_upgrade_without_vector_says_who_must_install_it_where(app_role, pg_server):
    app_url, dagster_url = app_role
    bare = f"{app_url.database.removesuffix('_app')}_novector"
    with _admin(pg_server).connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{bare}"'))
        conn.execute(
            sa.text(f'GRANT CONNECT, TEMPORARY, CREATE ON DATABASE "{bare}" TO "{app_url.username}"')
        )
    result = as_app("db", "upgrade", app_url=app_url.set(database=bare), dagster_url=dagster_url)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        f"organizer: extension vector is not installed and role {app_url.username} may not"
    )
    assert f"must run `CREATE EXTENSION vector;` in database {bare} " in line
    with get_engine(app_url.set(database=bare)).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM pg_namespace WHERE nspname = 'ops'")).scalar() == 0
