"""Rebuild every view from ``events`` and check live views against a rebuild.

Rebuild streams the log (:meth:`arbtui.store.log.LogReader.streams`) in primary-key order — one
aggregate's events contiguous — so it holds one aggregate's state at a time and memory stays flat
however long the log is. Each view row comes from the same projection functions the live path uses, so
a rebuild is byte-identical to the live views. Replays and plain reads of the log are in
:mod:`arbtui.store.log`.
"""

from __future__ import annotations

import itertools
import multiprocessing
import pickle
import queue
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbtui.domain import AGGREGATES
from arbtui.domain.events import AggregateSpec
from arbtui.store import projections
from arbtui.store.codec import decode_event
from arbtui.store.errors import CorruptEvent
from arbtui.store.log import LogReader, Where
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
CHUNKS = 256
"""A parallel rebuild cuts the log into about this many ranges of aggregates (at evenly spaced events)."""
QUEUE_DEPTH = 8
"""Row batches the helper process may have in flight to the writer before it waits."""
WRITE_CACHE_KIB = 65536
"""Page cache of the writing connection during a parallel rebuild: the views' indexes stay cached."""

Out = list[tuple[str, projections.Row]]
"""View rows to write: ``(table, row)``."""


def rebuild_views(conn: sqlite3.Connection, progress: Progress | None = None, *, parallel: bool | None = None) -> int:
    """Replace every view's rows with a fresh projection of the log, in one transaction.
    Large logs are folded by two processes (see :func:`_rebuild_in_parallel`), written in that
    transaction. Returns the number of events folded."""
    path = _main_file(conn)
    if parallel is None:
        parallel = path is not None and LogReader(conn).last_position() > PARALLEL_ABOVE
    if parallel and path is not None:
        return _rebuild_in_parallel(conn, path, progress)
    conn.execute("BEGIN IMMEDIATE")
    try:
        _clear_views(conn)
        writer = _Writer(conn, progress)
        for count, rows in _project(conn, ("1", ())):
            writer.add(count, rows)
        writer.flush()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return writer.count


def _clear_views(conn: sqlite3.Connection) -> None:
    for table in projections.ALL_TABLES:
        conn.execute(f"DELETE FROM {table}")


class _Writer:
    """Buffers view rows and inserts them in batches; ``count`` is the events folded so far."""

    def __init__(self, conn: sqlite3.Connection, progress: Progress | None) -> None:
        self.conn, self.progress = conn, progress
        self.rows: Out = []
        self.count = 0
        self.elsewhere = 0  # events folded by the helper process, for progress

    def add(self, count: int, rows: Out) -> bool:
        """Buffer rows; True when a batch was written."""
        self.count = count
        self.rows.extend(rows)
        if len(self.rows) < BATCH:
            return False
        self.flush()
        return True

    def write(self, rows: Out) -> None:
        by_table: dict[str, list[projections.Row]] = {}
        for table, row in rows:
            by_table.setdefault(table, []).append(row)
        for table, bucket in by_table.items():
            _insert(self.conn, table, bucket)

    def flush(self) -> None:
        self.write(self.rows)
        self.rows = []
        if self.progress is not None:
            self.progress(self.count + self.elsewhere)


def _rebuild_in_parallel(conn: sqlite3.Connection, path: str, progress: Progress | None) -> int:
    """Fold ranges of aggregates (see :data:`CHUNKS`) in this process from the front of the log and in
    a helper process from the back, until they meet; the helper sends its view rows here, and this
    process writes every row in the one transaction. An error is the one a serial rebuild reports:
    the first bad event in key order (this process's ranges all come before the helper's)."""
    ranges = _ranges(_bounds(conn, CHUNKS))
    spawn = multiprocessing.get_context("spawn")
    claims = spawn.Array("i", [0, len(ranges)])  # [next range from the front, end of the unclaimed ranges]
    inbox = spawn.Queue(maxsize=QUEUE_DEPTH)
    process = spawn.Process(target=fold_from_back, args=(path, ranges, claims, inbox), daemon=True)
    helper = _Helper(inbox, process.is_alive)
    # The log is read through its own connection, so reading does not evict the written pages from
    # the writer's cache; the write lock is held before anyone reads, so no event lands meanwhile.
    reader = connect_sync(path, readonly=True)
    (cache,) = conn.execute("PRAGMA cache_size").fetchone()
    conn.execute(f"PRAGMA cache_size = {-WRITE_CACHE_KIB}")
    try:
        conn.execute("BEGIN IMMEDIATE")
        process.start()
        try:
            _clear_views(conn)
            writer = _Writer(conn, progress)
            base = 0
            while (i := _claim(claims, front=True)) is not None:
                for count, rows in _project(reader, ranges[i]):
                    if writer.add(base + count, rows):
                        helper.deliver(writer, wait=False)
                base = writer.count
            writer.flush()
            helper.deliver(writer, wait=True)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        if process.is_alive():
            process.terminate()
        if process.pid is not None:
            process.join()
        reader.close()
        conn.execute(f"PRAGMA cache_size = {int(cache)}")
    if progress is not None:
        progress(writer.count + writer.elsewhere)
    return writer.count + writer.elsewhere


class _Helper:
    """The writer's end of the helper process's row batches."""

    POLL = 1.0  # seconds between checks that the helper still runs, while waiting for it

    def __init__(self, inbox: Any, alive: Callable[[], bool]) -> None:
        self.inbox, self.alive = inbox, alive
        self.failure: BaseException | None = None
        self.done = False

    def deliver(self, writer: _Writer, *, wait: bool) -> None:
        """Write the batches that arrived; with ``wait``, until the helper is done (or raise its error).
        A helper error is kept until this process has folded its own, earlier, ranges."""
        while self.failure is None and not self.done:
            try:
                kind, value, count = self.inbox.get(block=wait, timeout=self.POLL if wait else None)
            except queue.Empty:
                if not wait:
                    return
                if not self.alive() and self.inbox.empty():
                    raise RuntimeError("rebuild helper process stopped without a result") from None
                continue
            if kind == "failed":
                self.failure = value
            else:
                writer.write(value)
                writer.elsewhere = count
                self.done = kind == "done"
        if wait and self.failure is not None:
            raise self.failure


def fold_from_back(path: str, ranges: list[Where], claims: Any, outbox: Any) -> None:
    """Helper process: fold ranges from the back of the log, sending view rows in batches."""
    source = connect_sync(path, readonly=True)
    count, base, rows = 0, 0, []
    try:
        while (i := _claim(claims, front=False)) is not None:
            for count, out in _project(source, ranges[i]):
                rows.extend(out)
                if len(rows) >= BATCH:
                    outbox.put(("rows", rows, base + count))
                    rows = []
            base += count
            count = 0
        outbox.put(("done", rows, base))
    except BaseException as exc:  # noqa: BLE001 - reported to the writer, which raises it
        outbox.put(("failed", exc if _picklable(exc) else RuntimeError(repr(exc)), 0))
    finally:
        source.close()


def _picklable(exc: BaseException) -> bool:
    try:
        pickle.dumps(exc)
    except Exception:  # noqa: BLE001
        return False
    return True


def _claim(claims: Any, *, front: bool) -> int | None:
    with claims.get_lock():
        start, end = claims[0], claims[1]
        if start >= end:
            return None
        if front:
            claims[0] = start + 1
            return int(start)
        claims[1] = end - 1
        return int(end - 1)


def _bounds(conn: sqlite3.Connection, chunks: int) -> list[tuple[str, str]]:
    """Aggregate keys at evenly spaced events: the cut points of the ranges, sorted, distinct."""
    log = LogReader(conn)
    high = log.last_position()
    found = set()
    for k in range(1, chunks):
        key = log.key_at(high * k // chunks)
        if key is not None:
            found.add(key)
    return sorted(found)


def _ranges(bounds: list[tuple[str, str]]) -> list[Where]:
    """Disjoint ranges of aggregate keys covering every key, in key order."""
    lower, upper = "(aggregate_type, aggregate_id) >= (?, ?)", "(aggregate_type, aggregate_id) < (?, ?)"
    if not bounds:
        return [("1", ())]
    ranges: list[Where] = [(upper, bounds[0])]
    ranges += [(f"{lower} AND {upper}", (*a, *b)) for a, b in itertools.pairwise(bounds)]
    ranges.append((lower, bounds[-1]))
    return ranges


def _main_file(conn: sqlite3.Connection) -> str | None:
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(file) or None
    return None


def _insert(conn: sqlite3.Connection, table: str, rows: list[projections.Row]) -> None:
    if rows:
        conn.executemany(f"INSERT INTO {table} (view_id, version, payload) VALUES (?, ?, ?)", rows)


def _project(conn: sqlite3.Connection, where: Where) -> Iterator[tuple[int, Out]]:
    """Fold each aggregate stream; yield (events so far, rows to write) at the end of each stream."""
    count = 0
    key: tuple[str, str] | None = None
    spec: AggregateSpec[Any, Any] | None = None
    state: Any = None
    version = 0
    links: list[tuple[str, projections.Row]] = []
    for rows in LogReader(conn).streams(where):
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
            before = state
            try:
                state = spec.evolve(state, event)
            except (ValueError, TypeError) as exc:
                raise CorruptEvent(type_name, agg_id, sequence, f"cannot apply {event_type}: {exc}") from exc
            version = sequence
            links.extend((projections.LINK_TABLE, row) for row in projections.link_rows(agg_id, sequence, event))
            links.extend(projections.derived_rows(type_name, agg_id, sequence, event, before, state))
            count += 1
            if len(links) >= BATCH:  # insert-only rows go out as they come: a long stream holds no backlog
                yield count, links
                links = []
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
