import os
import subprocess
import uuid

import pytest
import sqlalchemy as sa

from organizer_pipeline.db import migrate, urls
from organizer_pipeline.db.embedded import EmbeddedPostgres, free_port
from organizer_pipeline.db.engine import check_connection, dagster_url, ensure_database, warehouse_url
from organizer_pipeline.errors import ConfigError, DatabaseUnavailable
from organizer_pipeline.processes import organizer_command


def organizer(*args, env=None):
    if env is not None and os.environ.get("PYTHONPATH"):
        env = {**env, "PYTHONPATH": os.environ["PYTHONPATH"]}
    return subprocess.run(
        organizer_command(*args),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_migrations_create_schemas_extension_and_audit_log(engine):
    with engine.connect() as conn:
        schemas = set(conn.execute(sa.text("select nspname from pg_namespace")).scalars())
        assert {"raw", "core", "hotmart", "ai", "kpi", "ops"} <= schemas
        assert conn.execute(sa.text("select 1 from pg_extension where extname = 'vector'")).scalar() == 1
        columns = set(
            conn.execute(
                sa.text(
                    "select column_name from information_schema.columns where table_schema='ops' and table_name='audit_log'"
                )
            ).scalars()
        )
        assert {"occurred_at", "actor", "action", "subject", "detail"} <= columns


def test_upgrade_is_idempotent(db_url):
    assert migrate.is_at_head(db_url)
    migrate.upgrade(db_url)
    assert migrate.current_revision(db_url) == migrate.head_revision()


def test_db_upgrade_cli_migrates_an_empty_database(pg_server, db_url, tmp_path):
    from organizer_pipeline_tests.conftest import create_database, drop_database

    name = f"cli_upgrade_target_{uuid.uuid4().hex[:8]}"  # sessions may share the server
    empty = create_database(pg_server, name)
    try:
        env = {
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": urls.render(empty),
            "ORGANIZER_STATE_DIR": str(tmp_path),
        }
        first = organizer("db", "upgrade", env=env)
        assert first.returncode == 0, first.stderr
        assert "0001" in first.stdout or migrate.head_revision() in first.stdout
        second = organizer("db", "status", env=env)
        assert second.returncode == 0 and '"at_head": true' in second.stdout
    finally:
        drop_database(pg_server, name)


@pytest.mark.parametrize(
    "url, expected",
    [
        # {port}: a free port found when the test runs (not at collection: xdist workers must agree on ids)
        ("postgresql+psycopg2://u:secretpw@127.0.0.1:{port}/organizer", "is the server running"),
        ("not a url at all", "not a valid URL"),
        ("mysql://u:p@localhost/x", "must be PostgreSQL"),
    ],
)
@pytest.mark.parametrize("command", [("db", "upgrade"), ("up",)])
def test_bad_database_url_is_one_clear_line(url, expected, command, tmp_path):
    url = url.replace("{port}", str(free_port()))
    result = organizer(
        *command,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": url, "ORGANIZER_STATE_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("organizer:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert expected in lines[0] and "Traceback" not in result.stderr
    assert "secretpw" not in result.stderr


def test_wrong_database_name_names_the_database(pg_server):
    with pytest.raises(DatabaseUnavailable, match="does not exist"):
        check_connection(pg_server.set(database="no_such_db_here"))


def test_bare_postgresql_scheme_is_forced_to_psycopg2(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example.com:5432/organizer?sslmode=require")
    url = warehouse_url()
    assert url.drivername == "postgresql+psycopg2"
    assert url.query["sslmode"] == "require"
    assert dagster_url().database == "dagster" and dagster_url().query["sslmode"] == "require"
    with pytest.raises(ConfigError):
        urls.normalize("sqlite:///x.db")


def test_external_database_url_never_starts_the_embedded_server(monkeypatch, tmp_path, db_url):
    monkeypatch.setenv("ORGANIZER_STATE_DIR", str(tmp_path))
    result = organizer(
        "db",
        "status",
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": urls.render(db_url),
            "ORGANIZER_STATE_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "pgdata").exists()


def test_embedded_server_start_stop_and_reuse(tmp_path):
    server = EmbeddedPostgres(tmp_path / "pgdata", port=free_port())
    assert server.start() is True
    try:
        assert server.start() is False  # already running: reused
        url = server.url("organizer")
        assert ensure_database(url) is True and ensure_database(url) is False
        engine = sa.create_engine(urls.render(url), poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text("create table keep_me (x int)"))
            conn.execute(sa.text("insert into keep_me values (42)"))
        engine.dispose()
        assert server.stop() is True and not server.is_running()
        assert server.start() is True
        engine = sa.create_engine(urls.render(server.url("organizer")), poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            assert conn.execute(sa.text("select x from keep_me")).scalar() == 42
        engine.dispose()
    finally:
        server.stop()
    assert server.stop() is False


def test_a_masked_password_is_refused_with_one_line(db_url):
    """`str(url)` prints `***` for the password; passed on as a URL it must fail clearly, not as a bad login."""
    masked = db_url.set(password="secret-pw") if db_url.password is None else db_url
    with pytest.raises(ConfigError, match=r"masked password '\*\*\*': pass urls.render\(url\)"):
        urls.normalize(str(masked))
    assert urls.normalize(urls.render(masked)).password == masked.password


def test_upgrade_moves_an_old_installs_version_table_into_ops(db_url, engine):
    """Installs migrated before kept alembic_version in `public`, where the app role may not create."""
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE ops.alembic_version SET SCHEMA public"))
    assert migrate.current_revision(db_url) is None
    migrate.upgrade(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('public.alembic_version')")).scalar() is None
    assert migrate.is_at_head(db_url)


def test_free_ports_are_outside_the_range_outgoing_connections_take():
    import socket

    from organizer_pipeline.db.embedded import _ephemeral_low

    ports = {free_port() for _ in range(20)}
    assert all(port < _ephemeral_low() for port in ports) and len(ports) > 10
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.pop()))  # and free
