"""The single writer of the ledger database, with group commit.

Each unit of work is *staged* inside its own SAVEPOINT of one open transaction — all-or-nothing on its
own: a unit whose rows are refused is rolled back alone, the units staged before and after it stay —
and one durable ``COMMIT`` then makes every staged unit permanent at once. The event store answers each
caller only after the COMMIT that carries its unit, so a crash loses only units nobody was told about.
Every statement runs on one thread, in submission order.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arbtui.domain.values import BlockRef
from arbtui.store import projections


@dataclass(frozen=True)
class Batch:
    """Every row one unit of work writes."""

    events: list[tuple[Any, ...]]
    upserts: dict[str, list[projections.Row]]
    deletes: dict[str, list[str]]
    links: list[projections.Row]
    snapshots: list[tuple[str, str, int, str, str]]
    checkpoint: BlockRef | None
    forget_checkpoints_above: int | None
    recorded_at: str
    backfill_progress: tuple[str, int] | None = None
    """(orderbook, block): move that book's history backfill to ``block`` (never backwards)."""


class Refused(sqlite3.Error):
    """A unit staged after a failed COMMIT, possibly decided on the rows that COMMIT lost."""


class GroupWriter:
    """The writing connection and its one thread: stage units, commit the open group, probe, close."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        # a unit's SAVEPOINT journal (pages it changes that earlier units had changed) stays in memory
        conn.execute("PRAGMA temp_store=MEMORY")
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="arbtui-store-writer", daemon=True)
        self._thread.start()
        self._staged = 0  # units in the open transaction (writer thread only)
        self._lost = False  # a COMMIT failed; refuse stages until the store has forgotten what it lost

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the writer thread. A bare queue and one ``call_soon_threadsafe`` back:
        half the cost of an executor hop, and every fill's commit makes two."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((loop, answer, fn, args))
        return await answer

    async def stage(self, batch: Batch, *, commit: bool) -> tuple[sqlite3.Error | None, sqlite3.Error | None]:
        """Write ``batch`` inside the open transaction (beginning one if needed), then, with ``commit``,
        commit every staged unit, in one hop to the writer thread. Returns ``(the unit's error, the
        COMMIT's error)`` instead of raising them; a refused unit is rolled back alone, so nothing
        partial is ever left behind."""
        errors: tuple[sqlite3.Error | None, sqlite3.Error | None] = await self._call(self._stage_then, batch, commit)
        return errors

    async def commit(self) -> sqlite3.Error | None:
        """Make every staged unit durable (one COMMIT); on failure all of them are rolled back."""
        error: sqlite3.Error | None = await self._call(self._commit)
        return error

    async def forget_loss(self) -> None:
        """Accept stages again after a failed COMMIT (the store has dropped every state it cached)."""
        await self._call(self._forget_loss)

    async def probe(self) -> str | None:
        """None if the database can be written now, else why not (writes nothing)."""
        problem: str | None = await self._call(self._probe)
        return problem

    async def transact(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn(connection)`` in a transaction of its own on the writer thread, committed if it
        returns, rolled back if it raises. The caller makes sure no group is open (it holds the turn to
        decide and has settled the staged units)."""
        return await self._call(self._transact, fn)

    async def close(self) -> None:
        await self._call(self._conn.close)
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)

    # --- on the writer thread -------------------------------------------------------------------

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, answer, fn, args = job
            try:
                result, error = fn(*args), None
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, which raises it
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_answer, answer, result, error)

    def _stage_then(self, batch: Batch, commit: bool) -> tuple[sqlite3.Error | None, sqlite3.Error | None]:
        error = self._stage(batch)
        return error, (self._commit() if commit else None)

    def _stage(self, batch: Batch) -> sqlite3.Error | None:
        if self._lost:
            return Refused("an earlier commit failed; decide again on what the database holds")
        conn = self._conn
        if not conn.in_transaction:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                return exc
        alone = self._staged == 0  # first in the transaction: the transaction itself is its savepoint
        if not alone:
            conn.execute("SAVEPOINT unit")
        try:
            _write(conn, batch)
            if not alone:
                conn.execute("RELEASE unit")
        except BaseException as exc:
            if alone:
                conn.execute("ROLLBACK")
            else:
                conn.execute("ROLLBACK TO unit")
                conn.execute("RELEASE unit")
            if isinstance(exc, sqlite3.Error):
                return exc
            raise
        self._staged += 1
        return None

    def _commit(self) -> sqlite3.Error | None:
        conn, self._staged = self._conn, 0
        if not conn.in_transaction:
            return None
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._lost = True
            return exc
        return None

    def _transact(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        conn = self._conn
        if conn.in_transaction:
            raise RuntimeError("a group is open: settle the staged units first")
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.OperationalError):  # SQLite may have rolled back already
                conn.execute("ROLLBACK")
            raise
        return result

    def _forget_loss(self) -> None:
        self._lost = False

    def _probe(self) -> str | None:
        if self._conn.in_transaction:  # a group is open: this connection holds the write lock
            return None
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            return f"database not writable: {exc}"
        return None


_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


def _answer(answer: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if answer.cancelled():  # the caller gave up waiting; the work itself was done
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(result)


def _write(conn: sqlite3.Connection, batch: Batch) -> None:
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", batch.events)
    for table, rows in batch.upserts.items():
        conn.executemany(
            f"INSERT INTO {table} (view_id, version, payload) VALUES (?, ?, ?) ON CONFLICT(view_id)"
            " DO UPDATE SET version = excluded.version, payload = excluded.payload",
            rows,
        )
    for table, ids in batch.deletes.items():
        conn.executemany(f"DELETE FROM {table} WHERE view_id = ?", [(i,) for i in ids])
    if batch.links:
        conn.executemany(
            f"INSERT INTO {projections.LINK_TABLE} (view_id, version, payload) VALUES (?, ?, ?)", batch.links
        )
    if batch.snapshots:
        conn.executemany("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?)", batch.snapshots)
    if batch.forget_checkpoints_above is not None:
        conn.execute("DELETE FROM chain_checkpoints WHERE block_number > ?", (batch.forget_checkpoints_above,))
    if batch.backfill_progress is not None:
        book, done = batch.backfill_progress
        conn.execute(
            "UPDATE orderbook_backfills SET done_through = ?,"
            " completed_at = CASE WHEN ? >= through_block THEN ? ELSE NULL END"
            " WHERE address = ? AND done_through < ?",
            (done, done, batch.recorded_at, book, done),
        )
    if batch.checkpoint is not None:
        conn.execute(
            "INSERT OR REPLACE INTO chain_checkpoints VALUES (?, ?, ?)",
            (batch.checkpoint.number, batch.checkpoint.hash, batch.recorded_at),
        )
