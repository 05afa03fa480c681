"""Readers read in READ ONLY transactions: the dashboard and the BI API query through the reader engine, and
the flag never leaks into the pool the webhook writes through."""

import contextlib

import pytest
import requests
import sqlalchemy as sa

from organizer_pipeline.db.engine import get_engine, get_reader_engine

TOKEN = "readers-test-token"


@contextlib.contextmanager
def statements(engine):
    """(SQL, whether its connection was read-only) for every statement the engine's pool runs meanwhile."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, bool(cursor.connection.readonly)))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def test_reader_engine_cannot_write_and_the_flag_does_not_leak(engine):
    reader = get_reader_engine(engine.url)
    with reader.connect() as conn:
        assert conn.execute(sa.text("SHOW transaction_read_only")).scalar() == "on"
    with pytest.raises(sa.exc.InternalError, match="read-only transaction"):
        with reader.begin() as conn:
            conn.execute(sa.text("INSERT INTO ops.audit_log (actor, action) VALUES ('t', 'write')"))
    for _ in range(get_engine(engine.url).pool.size() + 1):  # every pooled connection is writable again
        with engine.begin() as conn:
            assert conn.execute(sa.text("SHOW transaction_read_only")).scalar() == "off"
            conn.execute(sa.text("INSERT INTO ops.audit_log (actor, action) VALUES ('t', 'write')"))


def test_dashboard_and_bi_api_read_in_read_only_transactions(filled, web, monkeypatch):
    monkeypatch.setenv("ORGANIZER_API_TOKEN", TOKEN)
    with statements(filled) as seen:
        assert requests.get(f"{web}/dashboard", timeout=60).status_code == 200
        answer = requests.get(
            f"{web}/api/kpis/vendas_mensal", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        assert answer.status_code == 200 and answer.json()["count"] > 0
    reads = [sql for sql, _ in seen if "kpi." in sql or "to_regclass" in sql]
    assert reads, "no KPI query seen"
    assert [sql for sql, read_only in seen if not read_only] == []
