"""The one reader of the event log: every read of ``events`` outside a unit of work goes through here.

The same SQL and the same decoding serve two connections: :class:`LogReader` over a blocking
``sqlite3`` connection (rebuild, ``arbtui events``, ``arbtui position --at``, the console's history in a
thread worker) and :class:`AsyncLogReader` over the store's ``aiosqlite`` connection (the engine).
Reads are in log order (commit order, ``rowid``) or, for one aggregate, in sequence order; a replay
folds a stream with :func:`fold_rows`, which refuses a gap or a repeat as corruption.

(:class:`~arbtui.store.event_store.EventStore` still loads aggregates for a unit of work itself:
snapshot plus tail, cached; that is the write side, not a read of the log.)
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import aiosqlite

from arbtui.domain import AGGREGATES
from arbtui.domain.events import AggregateSpec, DomainEvent, Frozen
from arbtui.store.codec import decode_event, iso
from arbtui.store.errors import CorruptEvent

S = TypeVar("S", bound=Frozen)

Where = tuple[str, tuple[str, ...]]
"""An SQL condition on ``events`` and its parameters."""

STREAM_COLUMNS = "aggregate_type, aggregate_id, sequence, event_type, event_version, payload"
"""The columns of a row from :meth:`LogReader.streams`."""
BATCH = 5000
"""Rows fetched at a time by :meth:`LogReader.streams`."""

_EVENT_COLUMNS = "rowid, aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata"
_IDS = "SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = ? ORDER BY aggregate_id"
_LAST_POSITION = "SELECT max(rowid) FROM events"
_KEY_AT = "SELECT aggregate_type, aggregate_id FROM events WHERE rowid >= ? ORDER BY rowid LIMIT 1"


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back from the log, with its place in it."""

    position: int
    aggregate_type: str
    aggregate_id: str
    sequence: int
    event: DomainEvent
    metadata: dict[str, Any]

    @property
    def recorded_at(self) -> str:
        return str(self.metadata.get("recorded_at", ""))


# --- the SQL --------------------------------------------------------------------------------------


def _events_query(
    aggregate_type: str | None, aggregate_id: str | None, until: datetime | None, limit: int | None
) -> tuple[str, tuple[Any, ...]]:
    """Events in log order, filtered; with ``limit``, only the last ``limit`` of them (still oldest first)."""
    clauses: list[str] = []
    params: list[Any] = []
    if aggregate_type is not None:
        clauses.append("aggregate_type = ?")
        params.append(aggregate_type)
    if aggregate_id is not None:
        clauses.append("aggregate_id = ?")
        params.append(aggregate_id)
    if until is not None:
        clauses.append("json_extract(metadata, '$.recorded_at') <= ?")
        params.append(iso(until))
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    sql = f"SELECT {_EVENT_COLUMNS} FROM events {where} ORDER BY rowid"
    if limit is not None:
        sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) ORDER BY rowid"
    return sql, tuple(params)


def _stream_query(aggregate_type: str, aggregate_id: str, until: datetime | None) -> tuple[str, tuple[Any, ...]]:
    """One aggregate's rows ``(sequence, event_type, event_version, payload)``, in sequence order."""
    sql = (
        "SELECT sequence, event_type, event_version, payload FROM events WHERE aggregate_type = ? AND aggregate_id = ?"
    )
    params: tuple[Any, ...] = (aggregate_type, aggregate_id)
    if until is not None:
        sql += " AND json_extract(metadata, '$.recorded_at') <= ?"
        params += (iso(until),)
    return sql + " ORDER BY sequence", params


# --- the decoding ---------------------------------------------------------------------------------


def to_stored(row: tuple[Any, ...]) -> StoredEvent:
    """A row of :data:`_EVENT_COLUMNS` as a :class:`StoredEvent`."""
    position, type_name, agg_id, sequence, event_type, event_version, payload, metadata = row
    spec = AGGREGATES.get(type_name)
    if spec is None:
        raise CorruptEvent(type_name, agg_id, sequence, f"unknown aggregate type {type_name!r}")
    event = decode_event(spec, agg_id, sequence, event_type, event_version, payload)
    try:
        meta = json.loads(metadata)
    except ValueError as exc:
        raise CorruptEvent(type_name, agg_id, sequence, f"metadata is not JSON: {exc}") from exc
    return StoredEvent(int(position), type_name, agg_id, int(sequence), event, meta)


def fold_rows(
    spec: AggregateSpec[S, Any], aggregate_id: str, state: S, version: int, rows: Iterable[Sequence[Any]]
) -> tuple[S, int]:
    """Apply stored rows ``(sequence, event_type, event_version, payload)``; each must be exactly the
    next sequence (a gap or repeat is corruption, never silently accepted)."""
    for sequence, event_type, event_version, payload in rows:
        if sequence != version + 1:
            raise CorruptEvent(spec.type_name, aggregate_id, sequence, f"expected sequence {version + 1}")
        event = decode_event(spec, aggregate_id, sequence, event_type, event_version, payload)
        try:
            state = spec.evolve(state, event)
        except (ValueError, TypeError) as exc:
            raise CorruptEvent(spec.type_name, aggregate_id, sequence, f"cannot apply {event_type}: {exc}") from exc
        version = sequence
    return state, version


def _replayed(aggregate_type: str, aggregate_id: str, rows: Iterable[Sequence[Any]]) -> tuple[Any, int]:
    spec = AGGREGATES[aggregate_type]
    return fold_rows(spec, aggregate_id, spec.initial(aggregate_id), 0, rows)


# --- the readers ----------------------------------------------------------------------------------


class LogReader:
    """The log over a blocking ``sqlite3`` connection (the caller opens and closes it)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def events(
        self,
        *,
        aggregate_type: str | None = None,
        aggregate_id: str | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """Events in log order, optionally of one aggregate type/id, recorded up to ``until``, the last
        ``limit`` of them."""
        sql, params = _events_query(aggregate_type, aggregate_id, until, limit)
        return [to_stored(tuple(row)) for row in self._conn.execute(sql, params)]

    def aggregate_ids(self, aggregate_type: str) -> list[str]:
        return [str(row[0]) for row in self._conn.execute(_IDS, (aggregate_type,))]

    def stream(self, aggregate_type: str, aggregate_id: str, until: datetime | None = None) -> list[tuple[Any, ...]]:
        """One aggregate's rows ``(sequence, event_type, event_version, payload)`` (for :func:`fold_rows`)."""
        sql, params = _stream_query(aggregate_type, aggregate_id, until)
        return [tuple(row) for row in self._conn.execute(sql, params)]

    def replay(self, aggregate_type: str, aggregate_id: str, until: datetime | None = None) -> tuple[Any, int]:
        """An aggregate's ``(state, version)`` as of ``until`` (events recorded at or before it)."""
        return _replayed(aggregate_type, aggregate_id, self.stream(aggregate_type, aggregate_id, until))

    def last_position(self) -> int:
        """The position of the newest event (0 for an empty log)."""
        return int(self._conn.execute(_LAST_POSITION).fetchone()[0] or 0)

    def key_at(self, position: int) -> tuple[str, str] | None:
        """``(aggregate_type, aggregate_id)`` of the first event at or after ``position``."""
        row = self._conn.execute(_KEY_AT, (position,)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def streams(self, where: Where) -> Iterator[list[Any]]:
        """Every aggregate stream whose key matches ``where``, in key then sequence order (one
        aggregate's events contiguous), as batches of :data:`STREAM_COLUMNS` rows: the rebuild's read."""
        cursor = self._conn.execute(
            f"SELECT {STREAM_COLUMNS} FROM events WHERE {where[0]} ORDER BY aggregate_type, aggregate_id, sequence",
            where[1],
        )
        while rows := cursor.fetchmany(BATCH):
            yield rows


class AsyncLogReader:
    """The log over an ``aiosqlite`` connection (the event store's)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def events(
        self,
        *,
        aggregate_type: str | None = None,
        aggregate_id: str | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """As :meth:`LogReader.events`."""
        sql, params = _events_query(aggregate_type, aggregate_id, until, limit)
        async with self._conn.execute(sql, params) as cursor:
            rows = await cursor.fetchall()
        return [to_stored(tuple(row)) for row in rows]

    async def aggregate_ids(self, aggregate_type: str) -> list[str]:
        async with self._conn.execute(_IDS, (aggregate_type,)) as cursor:
            return [str(row[0]) for row in await cursor.fetchall()]

    async def stream(
        self, aggregate_type: str, aggregate_id: str, until: datetime | None = None
    ) -> list[tuple[Any, ...]]:
        """As :meth:`LogReader.stream`."""
        sql, params = _stream_query(aggregate_type, aggregate_id, until)
        return [tuple(row) for row in await self._conn.execute_fetchall(sql, params)]

    async def replay(self, aggregate_type: str, aggregate_id: str, until: datetime | None = None) -> tuple[Any, int]:
        """As :meth:`LogReader.replay`."""
        return _replayed(aggregate_type, aggregate_id, await self.stream(aggregate_type, aggregate_id, until))
