"""Rebuild every view from ``events``, check live views against a rebuild, and replay to an instant.

Rebuild streams the log in primary-key order — one aggregate's events contiguous — so it holds one
aggregate's state at a time and memory stays flat however long the log is. Each view row comes from
the same projection functions the live path uses, so a rebuild is byte-identical to the live views.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from arbtui.domain import AGGREGATES
from arbtui.domain.events import AggregateSpec
from arbtui.store import projections
from arbtui.store.codec import decode_event, iso
from arbtui.store.errors import CorruptEvent
from arbtui.store.event_store import StoredEvent, fold_rows, to_stored
from arbtui.store.migrate import connect_sync, migrate

BATCH = 5000
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Difference:
    table: str
    view_id: str
    problem: str  # "missing" (live lacks a row the log implies), "extra" (live has one it does not), "differs"

    def __str__(self) -> str:
        return f"{self.table} {self.view_id}: {self.problem}"


PARALLEL_ABOVE = 50_000
PARTITIONS = ("aggregate_type = 'Position'", "aggregate_type != 'Position'")
"""Long Position streams on one core, every other aggregate on the other: each fill yields one event of
each, so the halves stay balanced as the log grows."""


def rebuild_views(conn: sqlite3.Connection, progress: Progress | None = None, *, parallel: bool | None = None) -> int:
    """Replace every view's rows with a fresh projection of the log, in one transaction.
    Large logs are folded in two processes (see :data:`PARTITIONS`) and merged in that transaction.
    Returns the number of events folded."""
    path = _main_file(conn)
    if parallel is None:
        parallel = (
            path is not None and (conn.execute("SELECT max(rowid) FROM events").fetchone()[0] or 0) > PARALLEL_ABOVE
        )
    if parallel and path is not None:
        return _rebuild_in_parallel(conn, path, progress)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table in projections.ALL_TABLES:
            conn.execute(f"DELETE FROM {table}")
        count = _write_projection(conn, conn, "1", progress)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return count


def _write_projection(
    source: sqlite3.Connection, target: sqlite3.Connection, where: str, progress: Progress | None
) -> int:
    count = 0
    pending: dict[str, list[projections.Row]] = {table: [] for table in projections.ALL_TABLES}
    for count, rows in _project(source, where):
        for table, row in rows:
            bucket = pending[table]
            bucket.append(row)
            if len(bucket) >= BATCH:
                _insert(target, table, bucket)
                bucket.clear()
                if progress is not None:
                    progress(count)
    for table, bucket in pending.items():
        _insert(target, table, bucket)
    if progress is not None:
        progress(count)
    return count


def _rebuild_in_parallel(conn: sqlite3.Connection, path: str, progress: Progress | None) -> int:
    with tempfile.TemporaryDirectory(prefix="arbtui-rebuild-", dir=Path(path).parent) as folder:
        parts = [str(Path(folder) / f"part{i}.db") for i in range(len(PARTITIONS))]
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=len(PARTITIONS), mp_context=spawn) as pool:
            futures = [
                pool.submit(project_partition, path, where, part) for where, part in zip(PARTITIONS, parts, strict=True)
            ]
            count = sum(future.result() for future in futures)
        for i, part in enumerate(parts):
            conn.execute(f"ATTACH DATABASE ? AS part{i}", (part,))
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for table in projections.ALL_TABLES:
                    conn.execute(f"DELETE FROM {table}")
                    for i in range(len(parts)):
                        conn.execute(
                            f"INSERT INTO main.{table} (view_id, version, payload)"
                            f" SELECT view_id, version, payload FROM part{i}.{table} ORDER BY rowid"
                        )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            for i in range(len(parts)):
                conn.execute(f"DETACH DATABASE part{i}")
    if progress is not None:
        progress(count)
    return count


def project_partition(source_path: str, where: str, target_path: str) -> int:
    """Worker: fold the aggregates matching ``where`` into bare view tables in ``target_path``."""
    source = connect_sync(source_path, readonly=True)
    target = sqlite3.connect(target_path, isolation_level=None)
    try:
        target.execute("PRAGMA journal_mode=OFF")
        target.execute("PRAGMA synchronous=OFF")
        for table in projections.ALL_TABLES:
            target.execute(f"CREATE TABLE {table} (view_id TEXT, version INTEGER, payload TEXT)")
        target.execute("BEGIN")
        count = _write_projection(source, target, where, None)
        target.execute("COMMIT")
        return count
    finally:
        source.close()
        target.close()


def _main_file(conn: sqlite3.Connection) -> str | None:
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(file) or None
    return None


def _insert(conn: sqlite3.Connection, table: str, rows: list[projections.Row]) -> None:
    if rows:
        conn.executemany(f"INSERT INTO {table} (view_id, version, payload) VALUES (?, ?, ?)", rows)


def _project(conn: sqlite3.Connection, where: str) -> Iterator[tuple[int, list[tuple[str, projections.Row]]]]:
    """Fold each aggregate stream; yield (events so far, rows to write) at the end of each stream."""
    cursor = conn.execute(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload FROM events"
        f" WHERE {where} ORDER BY aggregate_type, aggregate_id, sequence"
    )
    count = 0
    key: tuple[str, str] | None = None
    spec: AggregateSpec[Any, Any] | None = None
    state: Any = None
    version = 0
    links: list[tuple[str, projections.Row]] = []
    while rows := cursor.fetchmany(BATCH):
        for type_name, agg_id, sequence, event_type, event_version, payload in rows:
            if (type_name, agg_id) != key:
                if key is not None and spec is not None:
                    yield count, _rows_for(key, version, state, links)
                key, links = (type_name, agg_id), []
                spec = AGGREGATES.get(type_name)
                if spec is None:
                    raise CorruptEvent(type_name, agg_id, sequence, f"unknown aggregate type {type_name!r}")
                state, version = spec.initial(agg_id), 0
            assert spec is not None
            if sequence != version + 1:
                raise CorruptEvent(type_name, agg_id, sequence, f"expected sequence {version + 1}")
            event = decode_event(spec, agg_id, sequence, event_type, event_version, payload)
            try:
                state = spec.evolve(state, event)
            except (ValueError, TypeError) as exc:
                raise CorruptEvent(type_name, agg_id, sequence, f"cannot apply {event_type}: {exc}") from exc
            version = sequence
            links.extend((projections.LINK_TABLE, row) for row in projections.link_rows(agg_id, sequence, event))
            count += 1
    if key is not None:
        yield count, _rows_for(key, version, state, links)


def _rows_for(
    key: tuple[str, str], version: int, state: Any, links: list[tuple[str, projections.Row]]
) -> list[tuple[str, projections.Row]]:
    row = projections.view_row(key[0], key[1], version, state)
    own = [] if row is None else [(projections.VIEWS[key[0]].table, row)]
    return own + links


def check_views(live_path: Path, progress: Progress | None = None) -> list[Difference]:
    """Rebuild into a scratch database from the live log; list every view row that differs."""
    with tempfile.TemporaryDirectory(prefix="arbtui-check-") as folder:
        scratch_path = Path(folder) / "scratch.db"
        migrate(scratch_path)
        scratch = connect_sync(scratch_path)
        try:
            scratch.execute("ATTACH DATABASE ? AS live", (f"file:{live_path}?mode=ro",))
            scratch.execute("BEGIN")
            scratch.execute("INSERT INTO main.events SELECT * FROM live.events ORDER BY rowid")
            scratch.execute("COMMIT")
            rebuild_views(scratch, progress)
            return _compare(scratch)
        finally:
            scratch.close()


def _compare(conn: sqlite3.Connection) -> list[Difference]:
    found: list[Difference] = []
    for table in projections.ALL_TABLES:
        query = (
            "SELECT a.view_id, CASE WHEN b.view_id IS NULL THEN '{problem}' ELSE 'differs' END"
            " FROM {a}.{table} a LEFT JOIN {b}.{table} b ON a.view_id = b.view_id"
            " WHERE b.view_id IS NULL OR a.version != b.version OR a.payload != b.payload"
        )
        for view_id, problem in conn.execute(query.format(a="main", b="live", table=table, problem="missing")):
            found.append(Difference(table, view_id, problem))
        for (view_id,) in conn.execute(
            f"SELECT a.view_id FROM live.{table} a LEFT JOIN main.{table} b ON a.view_id = b.view_id"
            " WHERE b.view_id IS NULL"
        ):
            found.append(Difference(table, view_id, "extra"))
    return found


def replay(conn: sqlite3.Connection, aggregate_type: str, aggregate_id: str, until: datetime | None) -> tuple[Any, int]:
    """An aggregate's ``(state, version)`` as of ``until`` (events recorded at or before it)."""
    spec = AGGREGATES[aggregate_type]
    sql = (
        "SELECT sequence, event_type, event_version, payload FROM events WHERE aggregate_type = ? AND aggregate_id = ?"
    )
    params: tuple[Any, ...] = (aggregate_type, aggregate_id)
    if until is not None:
        sql += " AND json_extract(metadata, '$.recorded_at') <= ?"
        params += (iso(until),)
    rows = conn.execute(sql + " ORDER BY sequence", params).fetchall()
    return fold_rows(spec, aggregate_id, spec.initial(aggregate_id), 0, rows)


def aggregate_ids(conn: sqlite3.Connection, aggregate_type: str) -> list[str]:
    return [
        str(row[0])
        for row in conn.execute(
            "SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = ? ORDER BY aggregate_id", (aggregate_type,)
        )
    ]


def read_log(
    conn: sqlite3.Connection,
    *,
    aggregate_type: str | None = None,
    aggregate_id: str | None = None,
    limit: int | None = None,
) -> list[StoredEvent]:
    clauses, params = [], []
    if aggregate_type is not None:
        clauses.append("aggregate_type = ?")
        params.append(aggregate_type)
    if aggregate_id is not None:
        clauses.append("aggregate_id = ?")
        params.append(aggregate_id)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    sql = (
        "SELECT rowid, aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata"
        f" FROM events {where} ORDER BY rowid"
    )
    if limit is not None:
        sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) ORDER BY rowid"
    return [to_stored(tuple(row)) for row in conn.execute(sql, params)]
