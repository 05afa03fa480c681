"""Backup -> drop -> restore gives back every warehouse table identically; restore refuses to overwrite."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from organizer_pipeline.db.engine import get_engine
from organizer_pipeline.ops import backup
from organizer_pipeline.ops.audit import audit
from organizer_pipeline_tests.conftest import create_database, drop_database
from organizer_pipeline_tests.ops.helpers import fingerprints, seed_hotmart


def seed_everything(engine):
    seed_hotmart(engine, "Ana.Souza@example.com", "Ana Souza", "52998224725", "HP001", 1497)
    seed_hotmart(engine, "bruno@example.org", "Bruno Lima", "11144477735", "HP002", 97.5)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into raw.cvdw_reservas (referencia, payload, row_hash) "
                "select 'r' || i, jsonb_build_object('idreserva', i, 'cliente', 'Cliente ' || i), md5(i::text) "
                "from generate_series(1, 300) i"
            )
        )
        conn.execute(
            sa.text(
                "insert into core.reservas (referencia, idreserva, valor_contrato, row_hash) "
                "select 'r' || i, i, i * 1000.25, md5(i::text) from generate_series(1, 300) i"
            )
        )
    audit(engine, "test", "seeded", None, {"rows": 300})


def test_backup_drop_restore_is_identical(pg_server, db_url, engine, tmp_path):
    seed_everything(engine)
    before = fingerprints(engine)
    assert before["core.reservas"][0] == 300 and before["hotmart.sales"][0] == 2

    dump = backup.dump_database(db_url, tmp_path / "warehouse.dump")
    assert dump.server_major == 18 and dump.size_bytes > 0
    assert not list(tmp_path.glob(".*partial"))

    drop_database(pg_server, db_url.database)  # the disaster
    backup.restore_database(dump.path, db_url)  # recreates the missing database, then restores

    after = fingerprints(get_engine(db_url))
    assert after == before


def test_restore_refuses_a_non_empty_database_without_force(pg_server, db_url, engine, tmp_path):
    seed_everything(engine)
    dump = backup.dump_database(db_url, tmp_path / "w.dump")
    before = fingerprints(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("delete from core.reservas where idreserva > 10"))
        conn.execute(sa.text("create table public.stray (x int)"))

    with pytest.raises(backup.BackupError, match="not empty .* --force"):
        backup.restore_database(dump.path, db_url)

    backup.restore_database(dump.path, db_url, force=True)
    after = fingerprints(get_engine(db_url))
    assert after == before and "public.stray" not in after


def test_restore_into_a_new_empty_database(pg_server, db_url, engine, tmp_path):
    seed_everything(engine)
    dump = backup.dump_database(db_url, tmp_path / "w.dump")
    copy = create_database(pg_server, f"{db_url.database}_copy")
    try:
        backup.restore_database(dump.path, copy)
        assert fingerprints(get_engine(copy)) == fingerprints(engine)
    finally:
        drop_database(pg_server, copy.database)


def test_missing_binary_major_gives_one_clear_line():
    with pytest.raises(backup.BackupError) as error:
        backup.find_binary("pg_dump", 9)
    message = str(error.value)
    assert "\n" not in message and "PostgreSQL 9" in message and "postgresql-client-9" in message


def test_system_binary_of_another_major_is_not_used():
    """This machine has a system pg_dump 15 on PATH; the PostgreSQL 18 server gets the wheel's 18."""
    chosen = backup.find_binary("pg_dump", 18)
    assert backup.binary_major(chosen) == 18


def test_scheduled_backup_keeps_the_newest_files(db_url, tmp_path):
    made = []
    for day in range(1, 5):
        dumps, removed = backup.scheduled_backup(
            db_url, None, tmp_path, keep=2, now=datetime(2026, 1, day, 3, 30, tzinfo=UTC)
        )
        made.append(dumps[0].path.name)
    remaining = sorted(path.name for path in tmp_path.glob("organizer-*.dump"))
    assert remaining == made[-2:] == ["organizer-20260103T033000Z.dump", "organizer-20260104T033000Z.dump"]


def test_weekly_backup_job_dumps_both_databases_and_prunes(
    db_url, pg_server, warehouse, tmp_path, monkeypatch
):
    import os

    from organizer_pipeline.db import urls
    from organizer_pipeline.db.engine import ensure_database
    from organizer_pipeline.ops.jobs import backup_job

    dagster_db = urls.normalize(os.environ["DAGSTER_PG_URL"])
    ensure_database(dagster_db)
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path))
    monkeypatch.setenv("BACKUP_KEEP", "1")
    (tmp_path / "organizer-20200101T000000Z.dump").write_bytes(b"old")
    try:
        result = backup_job.execute_in_process(resources={"warehouse": warehouse})
    finally:
        drop_database(pg_server, dagster_db.database)
    assert result.success
    names = sorted(path.name for path in tmp_path.iterdir())
    assert len(names) == 2 and names[0].startswith("dagster-") and names[1].startswith("organizer-")
    assert "organizer-20200101T000000Z.dump" not in names
