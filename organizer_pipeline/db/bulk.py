"""Bulk upserts: COPY rows into a temp table, then one `INSERT … ON CONFLICT DO UPDATE` that only touches
rows whose content hash changed. Never row-by-row; reusable by any domain.

    stage = Stage(conn, "stage_x", [("key", "text"), ("row_hash", "text"), ("payload", "jsonb")])
    stage.copy(rows)                      # as many times as batches arrive (or copy_stream)
    stage.dedupe(["key"])                 # last copy of a key wins
    counts = stage.merge("raw.x", ["key", "row_hash", "payload"], key=["key"])
    conn.commit()                         # the caller owns the transaction; the stage drops at commit

One stage can feed several tables (each `merge` picks its columns by name), so a batch is copied once."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg2
from psycopg2 import sql


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted, self.updated + other.updated, self.unchanged + other.unchanged
        )

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged


def copy_value(value: Any) -> str:
    """One field in PostgreSQL COPY text format (the common case, nothing to escape, costs four scans)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = value if isinstance(value, str) else str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def copy_line(values: Sequence[Any]) -> str:
    return "\t".join(map(copy_value, values)) + "\n"


def qualified(name: str) -> sql.Composable:
    """`schema.table` (or `table`) as quoted identifiers."""
    return sql.Identifier(*name.split("."))


class Stage:
    """A temp table fed by COPY, dropped at commit. `conn` is a DB-API (psycopg2) connection inside a
    transaction; the caller commits."""

    def __init__(
        self,
        conn: Any,
        name: str,
        columns: Sequence[tuple[str, str]],
        *,
        generated: Mapping[str, tuple[str, str]] | None = None,
        uncompressed: Sequence[str] = (),
    ):
        """`generated`: column -> (type, trusted SQL over the copied columns) computed by the server while
        the COPY streams (e.g. a content hash). `uncompressed`: wide columns kept out of line without
        compression — the stage is read once, so compressing it only doubles the target table's work."""
        self.conn, self.name = conn, name
        self.columns = [column for column, _ in columns]
        self.rows = 0
        definitions = [
            sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(type_name))
            for column, type_name in columns
        ] + [
            sql.SQL("{} {} GENERATED ALWAYS AS ({}) STORED").format(
                sql.Identifier(column), sql.SQL(type_name), sql.SQL(expression)
            )
            for column, (type_name, expression) in (generated or {}).items()
        ]
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
            cur.execute(
                sql.SQL("CREATE TEMP TABLE {} ({}, _ord bigserial) ON COMMIT DROP").format(
                    sql.Identifier(name), sql.SQL(", ").join(definitions)
                )
            )
            for column in uncompressed:
                cur.execute(
                    sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET STORAGE EXTERNAL").format(
                        sql.Identifier(name), sql.Identifier(column)
                    )
                )

    def copy_text(self, text: str, rows: int) -> None:
        """Load lines already in COPY text format (see `copy_line`)."""
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(self.name), sql.SQL(", ").join(map(sql.Identifier, self.columns))
        )
        with self.conn.cursor() as cur:
            cur.copy_expert(statement.as_string(self.conn), io.StringIO(text), size=1 << 20)
        self.rows += rows

    def copy_stream(self, chunks: Iterable[tuple[str, int]]) -> None:
        """One COPY fed chunk by chunk ((text, rows) pairs, e.g. one per API page): the server parses a chunk
        while the caller produces the next, and nothing waits for a round trip between chunks."""
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(self.name), sql.SQL(", ").join(map(sql.Identifier, self.columns))
        )
        reader = _ChunkReader(chunks)
        try:
            with self.conn.cursor() as cur:
                cur.copy_expert(statement.as_string(self.conn), reader)
        except psycopg2.Error:
            # psycopg2 turns an error raised while producing the chunks into "QueryCanceled: COPY from stdin
            # failed: …"; the producer's own error (e.g. the API's) is what the caller must see.
            if reader.error is not None:
                raise reader.error from None
            raise
        self.rows += reader.rows

    def copy(self, rows: Iterable[Sequence[Any]]) -> None:
        lines = [copy_line(row) for row in rows]
        self.copy_text("".join(lines), len(lines))

    def dedupe(self, key: Sequence[str]) -> int:
        """Keep only the last copy of each key (a page can repeat a row that moved while we paged)."""
        condition = sql.SQL(" AND ").join(
            sql.SQL("a.{0} = b.{0}").format(sql.Identifier(column)) for column in key
        )
        with self.conn.cursor() as cur:
            cur.execute(
                sql.SQL("DELETE FROM {0} a USING {0} b WHERE {1} AND a._ord < b._ord").format(
                    sql.Identifier(self.name), condition
                )
            )
            removed = cur.rowcount
        self.rows -= removed
        return removed

    def merge(
        self,
        target: str,
        columns: Sequence[str],
        *,
        key: Sequence[str],
        hash_column: str | None = "row_hash",
        on_change: Mapping[str, str] | None = None,
    ) -> UpsertCounts:
        """Upsert the stage's `columns` (same names in stage and target) into `target`. `on_change` maps
        columns to trusted SQL (code, never input) set only where a row is written (inserted or changed)."""
        on_change = {"updated_at": "now()"} if on_change is None else on_change
        updates = [
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(column))
            for column in columns
            if column not in key
        ] + [
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.SQL(value))
            for column, value in on_change.items()
        ]
        changed = (
            sql.SQL("WHERE t.{0} IS DISTINCT FROM EXCLUDED.{0}").format(sql.Identifier(hash_column))
            if hash_column
            else sql.SQL("")
        )
        statement = sql.SQL(
            """
            WITH merged AS (
                INSERT INTO {target} AS t ({columns})
                SELECT {columns} FROM {stage}
                ON CONFLICT ({key}) DO UPDATE SET {updates} {changed}
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged
            """
        ).format(
            target=qualified(target),
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
            stage=sql.Identifier(self.name),
            key=sql.SQL(", ").join(map(sql.Identifier, key)),
            updates=sql.SQL(", ").join(updates),
            changed=changed,
        )
        with self.conn.cursor() as cur:
            cur.execute(statement)
            inserted, updated = cur.fetchone()
        return UpsertCounts(inserted, updated, self.rows - inserted - updated)


class _ChunkReader:
    """A file-like object over (text, rows) chunks, as psycopg2's copy_expert wants."""

    def __init__(self, chunks: Iterable[tuple[str, int]]):
        self._chunks = iter(chunks)
        self.rows = 0
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> str:
        try:
            for text, rows in self._chunks:
                self.rows += rows
                if text:
                    return text
        except BaseException as error:
            self.error = error
            raise
        return ""

    readline = read


def copy_upsert(
    conn: Any,
    target: str,
    columns: Sequence[tuple[str, str]],
    rows: Iterable[Sequence[Any]],
    *,
    key: Sequence[str],
    hash_column: str | None = "row_hash",
    on_change: Mapping[str, str] | None = None,
) -> UpsertCounts:
    """The one-shot form: stage `rows` (tuples in `columns` order) and merge them into `target`."""
    stage = Stage(conn, "stage_" + target.replace(".", "_"), columns)
    stage.copy(rows)
    stage.dedupe(key)
    return stage.merge(
        target, [column for column, _ in columns], key=key, hash_column=hash_column, on_change=on_change
    )
