"""One aggregate as the ledger holds it — its state, its events with their metadata, and the audit links
between fills and executions: what the console's detail screens and ``arbtui show`` print.

Everything is read over one read-only connection in one read transaction, so the events, the state
replayed from them and the links agree even while the bot writes. Blocking: the console calls it from a
thread worker.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbtui.domain import offchain_order, onchain_trade
from arbtui.domain.values import Shares
from arbtui.store.errors import CorruptEvent, DatabaseUnavailable
from arbtui.store.log import LogReader, StoredEvent
from arbtui.store.migrate import connect_sync
from arbtui.store.projections import LINK_TABLE

_LINKS_OF = {
    onchain_trade.AGGREGATE: "trade_id",
    offchain_order.AGGREGATE: "execution_id",
}
"""The link view's column that names an aggregate of each type (positions have no links)."""


@dataclass(frozen=True)
class Link:
    """Shares of one fill that one execution hedges (``trade_execution_link_view``, written with the
    placement that took them)."""

    execution_id: str
    trade_id: str
    shares: Shares
    direction: str
    """The execution's side (the broker order's, opposite to the fills')."""
    trigger_reason: str
    """Why the execution was placed (``threshold``, ``resume``, ``manual``…)."""


@dataclass(frozen=True)
class Detail:
    """One aggregate: its state after ``version`` events, the events shown (oldest first, each with its
    metadata: ``recorded_at``, ``actor``, ``correlation_id``, ``reason``), and its links."""

    aggregate_type: str
    aggregate_id: str
    version: int
    state: Any
    events: tuple[StoredEvent, ...]
    """Every event, or the last ``limit`` of them when a limit was asked (``version`` counts them all)."""
    links: tuple[Link, ...]
    """A fill: the executions it went into. An execution: the fills it hedges. A position: none."""


def read_detail(path: Path, aggregate_type: str, aggregate_id: str, *, limit: int | None = None) -> Detail | None:
    """The aggregate ``aggregate_type:aggregate_id`` as of now, or ``None`` if the ledger has no event
    of it. ``limit`` keeps only the last events (the state is always replayed from all of them)."""
    conn = connect_sync(path, readonly=True)
    try:
        conn.execute("BEGIN")  # one snapshot: the state, the events and the links agree
        log = LogReader(conn)
        state, version = log.replay(aggregate_type, aggregate_id)
        if version == 0:
            return None
        events = log.events(aggregate_type=aggregate_type, aggregate_id=aggregate_id, limit=limit)
        return Detail(
            aggregate_type,
            aggregate_id,
            version,
            state,
            tuple(sorted(events, key=lambda stored: stored.sequence)),
            _links(conn, aggregate_type, aggregate_id),
        )
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(f"cannot read {aggregate_type}:{aggregate_id} from {path}: {exc}") from exc
    finally:
        conn.close()


def _links(conn: sqlite3.Connection, aggregate_type: str, aggregate_id: str) -> tuple[Link, ...]:
    column = _LINKS_OF.get(aggregate_type)
    if column is None:
        return ()
    rows = conn.execute(
        f"SELECT payload FROM {LINK_TABLE} WHERE {column} = ? ORDER BY version, view_id", (aggregate_id,)
    ).fetchall()
    try:
        return tuple(_link(json.loads(payload)) for (payload,) in rows)
    except (ValueError, KeyError, TypeError) as exc:  # a row that is not what the projection writes
        raise CorruptEvent(LINK_TABLE, aggregate_id, 0, f"unreadable audit link: {exc!r}") from exc


def _link(payload: dict[str, Any]) -> Link:
    return Link(
        execution_id=str(payload["execution_id"]),
        trade_id=str(payload["trade_id"]),
        shares=Shares(str(payload["shares"])),
        direction=str(payload["direction"]),
        trigger_reason=str(payload.get("trigger_reason", "")),
    )
