"""The generic COPY + merge helper (organizer_pipeline/db/bulk.py) on a real PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from organizer_pipeline.db.bulk import Stage, copy_upsert

COLUMNS = [("k", "text"), ("v", "text"), ("n", "numeric"), ("row_hash", "text")]


def upsert(engine, rows):
    raw = engine.raw_connection()
    try:
        counts = copy_upsert(raw.driver_connection, "public.things", COLUMNS, rows, key=["k"])
        raw.driver_connection.commit()
        return counts
    finally:
        raw.close()


def test_copy_upsert_counts_and_round_trips_awkward_text(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE things (k text PRIMARY KEY, v text, n numeric, row_hash text,"
                             " updated_at timestamptz NOT NULL DEFAULT now())"))  # fmt: skip
    awkward = "tab\there\nnew line \\ back\\slash \\N é ç"
    first = upsert(engine, [("a", awkward, 1.5, "h1"), ("b", None, None, "h2"), ("c", "x", 3, "h3")])
    assert (first.inserted, first.updated, first.unchanged) == (3, 0, 0)
    # b changes, c is repeated in the batch (the last copy wins), a is unchanged, d is new
    second = upsert(
        engine,
        [
            ("a", awkward, 1.5, "h1"),
            ("b", "now set", 2, "h2b"),
            ("c", "old", 3, "hx"),
            ("c", "x", 3, "h3"),
            ("d", "", 0, "h4"),
        ],
    )
    assert (second.inserted, second.updated, second.unchanged) == (1, 1, 2)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT k, v FROM things")).all())
        stamps = dict(conn.execute(sa.text("SELECT k, updated_at FROM things")).all())
    assert rows == {"a": awkward, "b": "now set", "c": "x", "d": ""}
    assert stamps["b"] > stamps["a"]  # only the changed row was written again


def test_an_error_raised_while_streaming_a_copy_is_raised_as_itself(engine):
    """psycopg2 reports an exception of the chunk producer as `QueryCanceled: COPY from stdin failed`; the
    caller must see the producer's own error (e.g. the API's), and nothing of the aborted COPY is kept."""

    class Broken(Exception):
        pass

    def chunks():
        yield "a\tone\n", 1
        raise Broken("the API said no")

    raw = engine.raw_connection()
    try:
        stage = Stage(raw.driver_connection, "stage_things", [("k", "text"), ("v", "text")])
        with pytest.raises(Broken, match="the API said no"):
            stage.copy_stream(chunks())
        raw.driver_connection.rollback()
    finally:
        raw.close()
