"""The event store: append with optimistic concurrency, load = snapshot + later events.

One :meth:`EventStore.run` is one unit of work: the caller loads aggregates, decides, records
:class:`~arbtui.domain.flows.Change` lists; the store then appends every event, updates every view
they affect, writes due snapshots and (optionally) the chain checkpoint, all-or-nothing. If another
writer got to an aggregate first, the primary key ``(aggregate_type, aggregate_id, sequence)`` refuses
the insert, nothing of the unit is written, and the work runs again on fresh state. Loaded states are
cached (bounded LRU); the key makes a stale cache harmless — and so it makes an *assumption* harmless:
a unit may decide on aggregates it believes new without reading them (:meth:`UnitOfWork.assume_new`);
if one was not new after all, the key refuses the unit and it runs again, reading everything.

Group commit: units queued behind one another share one durable COMMIT (see
:mod:`arbtui.store.group_commit`); each is still all-or-nothing on its own, the next unit decides on
the states the staged ones left, and every caller is answered, and the listeners are told, only after
the COMMIT carrying its unit is durable.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from arbtui.clock import Clock, SystemClock
from arbtui.domain.errors import DomainError
from arbtui.domain.events import AggregateSpec, DomainEvent, Frozen
from arbtui.domain.flows import Change
from arbtui.domain.values import BlockRef, OrderbookBackfill
from arbtui.store import chain_binding, projections
from arbtui.store.chain_binding import ChainBinding
from arbtui.store.codec import decode_state, encode_event, encode_state, iso
from arbtui.store.errors import ConcurrencyConflict, DatabaseUnavailable
from arbtui.store.group_commit import GroupCommit
from arbtui.store.lock import WriterLock, lock_path
from arbtui.store.log import AsyncLogReader, fold_rows
from arbtui.store.log import StoredEvent as StoredEvent  # re-exported: it is what read_log returns
from arbtui.store.migrate import connect_sync, migrate
from arbtui.store.writer import Batch, GroupWriter, Refused

S = TypeVar("S", bound=Frozen)
T = TypeVar("T")

_RETRY = object()
_RETRY_FRESH = object()

SNAPSHOT_EVERY = 100
CACHE_SIZE = 4096
MAX_ATTEMPTS = 8
LOAD_MANY_CHUNK = 400
"""Ids per :meth:`EventStore.load_many` query (two ``IN`` lists each, well under SQLite's variable limit)."""


@dataclass(frozen=True)
class Committed:
    """What one commit appended to one aggregate, and the state it left."""

    aggregate_type: str
    aggregate_id: str
    version: int
    state: Any
    events: tuple[DomainEvent, ...]


@dataclass(frozen=True)
class _Staged:
    """A unit's result, what to await before handing it over (None: nothing to wait for), and what it
    appended (announced to the listeners by its caller, once durable)."""

    result: Any
    durable: asyncio.Future[None] | None
    committed: list[Committed]


@dataclass
class _Touched:
    spec: AggregateSpec[Any, Any]
    aggregate_id: str
    base_version: int
    state: Any
    events: list[DomainEvent] = field(default_factory=list)
    derived: list[tuple[str, projections.Row]] = field(default_factory=list)  # metrics_pnl_view rows


class UnitOfWork:
    """Loads and staged changes of one attempt. Loads see the changes already staged in it."""

    def __init__(self, store: EventStore, metadata: dict[str, Any], *, read_everything: bool = False) -> None:
        self._store = store
        self.metadata = metadata
        self.read_everything = read_everything
        """Set when an earlier attempt was refused: assumptions are not trusted, everything is read."""
        self.assumed = False
        self.generation = store.generation
        self._touched: dict[tuple[str, str], _Touched] = {}
        self.checkpoint: BlockRef | None = None
        self.forget_checkpoints_above: int | None = None
        self.backfill_progress: tuple[str, int] | None = None
        """(orderbook, block): that book's history backfill has recorded through block (same commit)."""

    @property
    def loaded(self) -> list[tuple[str, str]]:
        return list(self._touched)

    async def load(self, spec: AggregateSpec[S, Any], aggregate_id: str) -> S:
        key = (spec.type_name, aggregate_id)
        touched = self._touched.get(key)
        if touched is None:
            state, version = await self._store.load(spec, aggregate_id)
            touched = self._touched[key] = _Touched(spec, aggregate_id, version, state)
        result: S = touched.state
        return result

    async def preload(self, spec: AggregateSpec[Any, Any], aggregate_ids: Iterable[str]) -> None:
        """Load many aggregates of one type in one round trip, so that the :meth:`load` calls that follow
        find them here (a range of fills: one query, not one per fill). Aggregates already loaded in this
        unit of work are left as they are; the result is the same as loading each one."""
        wanted = [i for i in dict.fromkeys(aggregate_ids) if (spec.type_name, i) not in self._touched]
        if not wanted:
            return
        for aggregate_id, (state, version) in (await self._store.load_many(spec, wanted)).items():
            self._touched.setdefault((spec.type_name, aggregate_id), _Touched(spec, aggregate_id, version, state))

    async def assume_new(self, spec: AggregateSpec[Any, Any], aggregate_ids: Iterable[str]) -> None:
        """Aggregates the caller knows to be new (e.g. trades in blocks above every block recorded so
        far): decide on their initial state without a read, unless cached. If one has events after all,
        the append is refused by the log's key and the unit is run again with :attr:`read_everything`,
        when this is :meth:`preload`."""
        if self.read_everything:
            await self.preload(spec, aggregate_ids)
            return
        for aggregate_id in aggregate_ids:
            key = (spec.type_name, aggregate_id)
            if key in self._touched:
                continue
            cached = self._store.cached(key)
            if cached is not None:
                self._touched[key] = _Touched(spec, aggregate_id, cached[1], cached[0])
            else:
                self._touched[key] = _Touched(spec, aggregate_id, 0, spec.initial(aggregate_id))
                self.assumed = True

    def record(self, changes: Iterable[Change]) -> None:
        for change in changes:
            key = (change.spec.type_name, change.aggregate_id)
            touched = self._touched.get(key)
            if touched is None:  # a new aggregate decided from its initial state (e.g. an order)
                touched = self._touched[key] = _Touched(
                    change.spec, change.aggregate_id, 0, change.spec.initial(change.aggregate_id)
                )
            sequence = touched.base_version + len(touched.events)
            for event in change.events:
                sequence += 1
                before, touched.state = touched.state, change.spec.evolve(touched.state, event)
                touched.derived.extend(projections.derived_rows(key[0], key[1], sequence, event, before, touched.state))
            touched.events.extend(change.events)

    @property
    def changes(self) -> list[_Touched]:
        return [t for t in self._touched.values() if t.events]


class EventStore:
    """The single writer of the ledger database (the engine process owns it)."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        writer: sqlite3.Connection,
        path: Path,
        snapshot_every: int,
        clock: Clock | None = None,
    ) -> None:
        self._conn = conn
        self.clock: Clock = clock or SystemClock()
        """Stamps ``recorded_at`` in each event's metadata."""
        self._log = AsyncLogReader(conn)
        self.path = path
        self._snapshot_every = snapshot_every
        self._cache: OrderedDict[tuple[str, str], tuple[Any, int]] = OrderedDict()
        self._lock = asyncio.Lock()
        self.writer_lock: WriterLock | None = None
        """The ledger's writer lock when opened ``exclusive`` (released by :meth:`close`)."""
        self.listeners: list[Callable[[list[Committed]], None]] = []
        """Called after every commit with what it appended (the engine's bus subscribes here)."""
        self._groups = GroupCommit(GroupWriter(writer), path, forget=self._cache.clear, announce=self._announce)
        """One unit of work decides at a time in this process (its turn: ``_groups.acquire``). Without it
        a long unit — a backfill range of a thousand fills — would keep losing its optimistic race to the
        small commits of hedges on the same positions (a livelock). Writers in *other* processes are
        still caught by the events table's key."""

    @property
    def generation(self) -> int:
        """Bumped by a failed COMMIT: units of work decided before it are decided again."""
        return self._groups.generation

    @property
    def commits(self) -> int:
        """Durable COMMITs so far (with :attr:`units_committed`: how well units are grouped)."""
        return self._groups.commits

    @property
    def units_committed(self) -> int:
        return self._groups.units_committed

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        snapshot_every: int = SNAPSHOT_EVERY,
        busy_timeout_ms: int = 5000,
        exclusive: bool = False,
        lock: WriterLock | None = None,
        clock: Clock | None = None,
    ) -> EventStore:
        """Open (creating and migrating as needed) the database at ``path``. A write that finds the
        database locked waits up to ``busy_timeout_ms``, then fails with :class:`DatabaseUnavailable`.

        ``exclusive``: take the ledger's writer lock first (:class:`~arbtui.store.lock.WriterLock`, held
        until :meth:`close`): a bot's store. Another process holding it → :class:`LedgerLocked`, before
        anything is created, migrated or written. ``lock``: that lock, taken earlier by the caller (it
        must be this ledger's); the store owns it from here on and releases it on :meth:`close`."""
        path = Path(path)
        if lock is not None and lock.path != lock_path(path):
            raise ValueError(f"{lock.path} is not the writer lock of {path}")
        if lock is None and exclusive:
            lock = WriterLock.acquire(path)
        try:
            await asyncio.to_thread(migrate, path)
            writer = await asyncio.to_thread(connect_sync, path, check_same_thread=False)
            writer.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            try:
                conn = await aiosqlite.connect(path, isolation_level=None)
                await conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            except sqlite3.DatabaseError as exc:
                writer.close()
                raise DatabaseUnavailable(f"cannot open database {path}: {exc}") from exc
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        store = cls(conn, writer, path, snapshot_every, clock)
        store.writer_lock = lock
        return store

    async def close(self) -> None:
        async with self._lock:
            try:
                await self._groups.settle()
                await self._conn.close()
                await self._groups.writer.close()
            finally:
                if self.writer_lock is not None:
                    self.writer_lock.release()

    async def bind_chain(
        self, chain_id: int, orderbooks: Sequence[str], deployment_blocks: Mapping[str, int] | None = None
    ) -> ChainBinding:
        """Record the ledger's chain id at its first start, refuse another one (:class:`ChainMismatch`,
        nothing written), and record orderbooks not seen before with their history backfills — one
        transaction, between units (see :mod:`arbtui.store.chain_binding`)."""
        await self._groups.acquire()
        try:
            await self._groups.settle()
            binding: ChainBinding = await self._groups.writer.transact(
                lambda conn: chain_binding.bind(
                    conn, str(self.path), chain_id, orderbooks, self.clock.now(), deployment_blocks
                )
            )
        finally:
            self._groups.release()
        return binding

    # --- reading ------------------------------------------------------------------------------

    def cached(self, key: tuple[str, str]) -> tuple[Any, int] | None:
        """The cached ``(state, version)`` of an aggregate, if any (no read)."""
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
        return found

    async def load(self, spec: AggregateSpec[S, Any], aggregate_id: str) -> tuple[S, int]:
        """Current ``(state, version)``; version 0 means the aggregate has no events yet."""
        key = (spec.type_name, aggregate_id)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            state: S = cached[0]
            return state, cached[1]
        # one round trip: the snapshot (kind 0, if any) and every event (kind 1); events the snapshot
        # already covers are skipped below, and all of them are used if the snapshot is unreadable
        rows: list[tuple[Any, ...]] = [
            tuple(row)
            for row in await self._conn.execute_fetchall(
                "SELECT 0, last_sequence, NULL, NULL, payload FROM snapshots"
                " WHERE aggregate_type = ?1 AND aggregate_id = ?2"
                " UNION ALL SELECT 1, sequence, event_type, event_version, payload FROM events"
                " WHERE aggregate_type = ?1 AND aggregate_id = ?2 AND sequence > coalesce((SELECT last_sequence"
                " FROM snapshots WHERE aggregate_type = ?1 AND aggregate_id = ?2), 0) ORDER BY 1, 2",
                (spec.type_name, aggregate_id),
            )
        ]
        state, version = spec.initial(aggregate_id), 0
        if rows and rows[0][0] == 0:
            restored = decode_state(spec, rows[0][4])
            if restored is not None:
                state, version = restored, int(rows[0][1])  # type: ignore[assignment]
            else:  # unreadable snapshot (older state format): replay the whole stream
                rows = [(1, *row) for row in await self._log.stream(spec.type_name, aggregate_id)]
        state, version = fold_rows(spec, aggregate_id, state, version, [row[1:] for row in rows if row[0] == 1])
        self._remember(key, state, version)
        newest = self._cache.get(key)
        if newest is not None and newest[1] > version:  # a commit landed while this read was in flight
            newer: S = newest[0]
            return newer, newest[1]
        return state, version

    async def load_many(self, spec: AggregateSpec[S, Any], aggregate_ids: Sequence[str]) -> dict[str, tuple[S, int]]:
        """``(state, version)`` of each id, as :meth:`load` gives it, reading the uncached ones in a few
        round trips (:data:`LOAD_MANY_CHUNK` ids each) instead of one per id."""
        found: dict[str, tuple[S, int]] = {}
        missing: list[str] = []
        for aggregate_id in dict.fromkeys(aggregate_ids):
            key = (spec.type_name, aggregate_id)
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                found[aggregate_id] = (cached[0], cached[1])
            else:
                missing.append(aggregate_id)
        for start in range(0, len(missing), LOAD_MANY_CHUNK):
            chunk = missing[start : start + LOAD_MANY_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = await self._conn.execute_fetchall(
                f"SELECT aggregate_id, 0, last_sequence, NULL, NULL, payload FROM snapshots"
                f" WHERE aggregate_type = ? AND aggregate_id IN ({marks})"
                f" UNION ALL SELECT e.aggregate_id, 1, e.sequence, e.event_type, e.event_version, e.payload"
                f" FROM events e WHERE e.aggregate_type = ? AND e.aggregate_id IN ({marks})"
                f" AND e.sequence > coalesce((SELECT s.last_sequence FROM snapshots s"
                f" WHERE s.aggregate_type = e.aggregate_type AND s.aggregate_id = e.aggregate_id), 0)"
                f" ORDER BY 1, 2, 3",
                (spec.type_name, *chunk, spec.type_name, *chunk),
            )
            by_id: dict[str, list[tuple[Any, ...]]] = {}
            for row in rows:
                by_id.setdefault(str(row[0]), []).append(tuple(row[1:]))
            for aggregate_id in chunk:
                own = by_id.get(aggregate_id, [])
                state, version = spec.initial(aggregate_id), 0
                if own and own[0][0] == 0:
                    restored = decode_state(spec, own[0][4])
                    if restored is None:  # unreadable snapshot (older state format): load() replays it all
                        found[aggregate_id] = await self.load(spec, aggregate_id)
                        continue
                    state, version = restored, int(own[0][1])  # type: ignore[assignment]
                state, version = fold_rows(spec, aggregate_id, state, version, [r[1:] for r in own if r[0] == 1])
                self._remember((spec.type_name, aggregate_id), state, version)
                found[aggregate_id] = (state, version)
        return found

    async def read_log(
        self,
        *,
        aggregate_type: str | None = None,
        aggregate_id: str | None = None,
        until: datetime | None = None,
    ) -> list[StoredEvent]:
        """Events in log order (commit order), optionally for one aggregate type/id, up to ``until``."""
        return await self._log.events(aggregate_type=aggregate_type, aggregate_id=aggregate_id, until=until)

    async def orderbook_backfills(self) -> list[OrderbookBackfill]:
        """History backfills of added orderbooks that are not complete yet."""
        rows = await self.query(
            "SELECT address, first_block, through_block, done_through FROM orderbook_backfills"
            " WHERE done_through < through_block ORDER BY address"
        )
        return [OrderbookBackfill(str(a), int(f), int(t), int(d)) for a, f, t, d in rows]

    async def checkpoints(self, limit: int) -> list[BlockRef]:
        async with self._conn.execute(
            "SELECT block_number, block_hash FROM chain_checkpoints ORDER BY block_number DESC LIMIT ?",
            (limit,),
        ) as cursor:
            return [BlockRef(int(n), str(h)) for n, h in await cursor.fetchall()]

    async def aggregate_ids(self, aggregate_type: str) -> list[str]:
        return await self._log.aggregate_ids(aggregate_type)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read-only SQL over the views (used by the ledger's queries)."""
        async with self._conn.execute(sql, params) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

    async def writable(self) -> str | None:
        """None if a write transaction can start now, else why not (readiness probe; writes nothing)."""
        return await self._groups.writer.probe()

    # --- writing ------------------------------------------------------------------------------

    async def run(
        self,
        work: Callable[[UnitOfWork], Awaitable[T]],
        *,
        metadata: dict[str, Any] | None = None,
        attempts: int = MAX_ATTEMPTS,
    ) -> T:
        """Run ``work`` and commit what it recorded; on a concurrency conflict, run it again."""
        fresh = False
        for attempt in range(1, attempts + 1):
            await self._groups.acquire()
            try:
                outcome = await self._attempt(work, metadata, fresh=fresh, last=attempt == attempts)
            finally:
                self._groups.release()
            if isinstance(outcome, _Staged):
                if outcome.durable is not None:
                    await outcome.durable  # this unit's own future: cancelling the wait cancels only it
                self._announce(outcome.committed)
                result: T = outcome.result
                return result
            fresh = fresh or outcome is _RETRY_FRESH
            await self._groups.settle()  # decide again on what the database holds, staged units included
        raise AssertionError("unreachable")

    async def _attempt(
        self, work: Callable[[UnitOfWork], Awaitable[T]], metadata: dict[str, Any] | None, *, fresh: bool, last: bool
    ) -> _Staged | object:
        """One decide-and-stage: the work's result, or a marker saying how to try again."""
        uow = UnitOfWork(self, dict(metadata or {}), read_everything=fresh)
        try:
            result = await work(uow)
        except DomainError:
            # a rule refused the command; if that may have been decided on a cached state that another
            # process has since moved on, decide once more on state read from the database
            if fresh or last:
                raise
            for key in uow.loaded:
                self._cache.pop(key, None)
            return _RETRY_FRESH
        try:
            durable, committed = await self._stage(uow)
        except ConcurrencyConflict:
            for touched in uow.changes:
                self._cache.pop((touched.spec.type_name, touched.aggregate_id), None)
            if last:
                raise
            return _RETRY_FRESH if uow.assumed else _RETRY
        return _Staged(result, durable, committed)

    async def _stage(self, uow: UnitOfWork) -> tuple[asyncio.Future[None] | None, list[Committed]]:
        """Stage the unit's rows in the open group; the future resolves when they are durable."""
        changes = uow.changes
        if (
            not changes
            and uow.checkpoint is None
            and uow.forget_checkpoints_above is None
            and uow.backfill_progress is None
        ):
            # nothing to write, but it may have read staged states: answer once those are durable
            return self._groups.after_reading(), []
        now = self.clock.now()
        metadata = json.dumps(
            {"recorded_at": iso(now), "correlation_id": None, "causation_id": None, **uow.metadata},
            sort_keys=True,
        )
        event_rows: list[tuple[Any, ...]] = []
        upserts: dict[str, list[projections.Row]] = {}
        deletes: dict[str, list[str]] = {}
        links: list[projections.Row] = []
        snapshots: list[tuple[str, str, int, str, str]] = []
        for touched in changes:
            type_name, agg_id = touched.spec.type_name, touched.aggregate_id
            for offset, event in enumerate(touched.events, start=1):
                sequence = touched.base_version + offset
                event_type, event_version, payload = encode_event(event)
                event_rows.append((type_name, agg_id, sequence, event_type, event_version, payload, metadata))
                links.extend(projections.link_rows(agg_id, sequence, event))
            for table, derived in touched.derived:
                upserts.setdefault(table, []).append(derived)
            new_version = touched.base_version + len(touched.events)
            row = projections.view_row(type_name, agg_id, new_version, touched.state)
            table = projections.VIEWS[type_name].table
            if row is None:
                deletes.setdefault(table, []).append(agg_id)
            else:
                upserts.setdefault(table, []).append(row)
            if new_version // self._snapshot_every > touched.base_version // self._snapshot_every:
                snapshots.append((type_name, agg_id, new_version, encode_state(touched.spec, touched.state), iso(now)))
        batch = Batch(
            event_rows,
            upserts,
            deletes,
            links,
            snapshots,
            uow.checkpoint,
            uow.forget_checkpoints_above,
            iso(now),
            uow.backfill_progress,
        )
        first = changes[0] if changes else None
        if uow.generation != self.generation:  # decided on states a failed COMMIT lost
            raise ConcurrencyConflict(*_where(first))
        error, lost, committed_already = await self._groups.write(batch)
        if isinstance(error, Refused):
            raise ConcurrencyConflict(*_where(first)) from error
        if isinstance(error, sqlite3.IntegrityError):
            conflict = await self._find_conflict(uow)
            if conflict is None and "events." in str(error):  # the key refused it: someone wrote first
                conflict = ConcurrencyConflict(*_where(first))
            if conflict is not None:
                raise conflict from error
            raise error
        if error is not None:
            raise DatabaseUnavailable(f"{self.path}: write failed, nothing was recorded: {error}") from error
        if lost is not None:
            raise DatabaseUnavailable(f"{self.path}: commit failed, nothing was recorded: {lost}") from lost
        committed: list[Committed] = []
        for touched in changes:
            version = touched.base_version + len(touched.events)
            self._remember((touched.spec.type_name, touched.aggregate_id), touched.state, version)
            committed.append(
                Committed(touched.spec.type_name, touched.aggregate_id, version, touched.state, tuple(touched.events))
            )
        return (None if committed_already else self._groups.join(committed)), committed

    def _announce(self, committed: list[Committed]) -> None:
        if committed:
            for listener in self.listeners:
                listener(committed)

    async def _find_conflict(self, uow: UnitOfWork) -> ConcurrencyConflict | None:
        for touched in uow.changes:
            async with self._conn.execute(
                "SELECT max(sequence) FROM events WHERE aggregate_type = ? AND aggregate_id = ?",
                (touched.spec.type_name, touched.aggregate_id),
            ) as cursor:
                row = await cursor.fetchone()
            current = int(row[0] or 0) if row else 0
            if current != touched.base_version:
                return ConcurrencyConflict(touched.spec.type_name, touched.aggregate_id, touched.base_version + 1)
        return None

    def _remember(self, key: tuple[str, str], state: Any, version: int) -> None:
        """Cache ``state`` unless a newer version is already cached: a read that started before a
        commit and returns after it must not put the older state back."""
        cached = self._cache.get(key)
        if cached is not None and cached[1] > version:
            self._cache.move_to_end(key)
            return
        self._cache[key] = (state, version)
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)


def _where(touched: _Touched | None) -> tuple[str, str, int]:
    """Aggregate and sequence a conflict is reported at."""
    if touched is None:
        return ("ChainCheckpoint", "cursor", 0)
    return (touched.spec.type_name, touched.aggregate_id, touched.base_version + 1)
