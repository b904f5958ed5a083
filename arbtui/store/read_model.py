"""The ledger as the console reads it (:class:`~arbtui.engine.ports.ReadModel`): a read-only connection
through the store's log reader, opened for each read.

Used at start-up to seed the panes with what happened before the console opened (the bus only carries
what happens after), by the history screen to show a position as it was at an instant, and by the detail
screens (Enter on a pane's row) to show one aggregate's events and links. All are blocking: callers run
them in thread workers.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from arbtui.domain import control, offchain_order, onchain_trade, position
from arbtui.store.detail import Detail, read_detail
from arbtui.store.log import LogReader
from arbtui.store.migrate import connect_sync

Seed = list[tuple[str, str, int, Any]]
"""``(aggregate_type, aggregate_id, version, state)`` rows."""


class LedgerReadModel:
    """Reads of the ledger at ``path`` for the console (never writes, never locks out the bot)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def seed(self, *, fills: int, orders: int) -> Seed:
        """Every position, the control state, and the latest ``fills`` trades and ``orders`` executions."""
        return read_seed(self.path, fills=fills, orders=orders)

    def position_at(self, symbol: str, until: datetime | None) -> tuple[position.Position, int]:
        """A position as of ``until`` (events recorded at or before it), and how many events that is."""
        return position_at(self.path, symbol, until)

    def detail(self, aggregate_type: str, aggregate_id: str, *, limit: int | None = None) -> Detail | None:
        """One aggregate now, with its events and links (:func:`arbtui.store.detail.read_detail`)."""
        return read_detail(self.path, aggregate_type, aggregate_id, limit=limit)


def read_seed(path: Path, *, fills: int, orders: int) -> Seed:
    """Every position, the control state, and the latest fills and executions, as the ledger holds them."""
    conn = connect_sync(path, readonly=True)
    try:
        log = LogReader(conn)
        seed: Seed = []
        for symbol in log.aggregate_ids(position.AGGREGATE):
            state, version = log.replay(position.AGGREGATE, symbol)
            seed.append((position.AGGREGATE, symbol, version, state))
        state, version = log.replay(control.AGGREGATE, control.CONTROL_ID)
        if version:
            seed.append((control.AGGREGATE, control.CONTROL_ID, version, state))
        for aggregate_type, limit in ((onchain_trade.AGGREGATE, fills), (offchain_order.AGGREGATE, orders)):
            for aggregate_id in _latest_ids(log, aggregate_type, limit):
                state, version = log.replay(aggregate_type, aggregate_id)
                seed.append((aggregate_type, aggregate_id, version, state))
        return seed
    finally:
        conn.close()


def position_at(path: Path, symbol: str, until: datetime | None) -> tuple[position.Position, int]:
    """A position as of ``until`` (events recorded at or before it), and how many events that is."""
    conn = connect_sync(path, readonly=True)
    try:
        state, version = LogReader(conn).replay(position.AGGREGATE, symbol, until)
        return state, version
    finally:
        conn.close()


def _latest_ids(log: LogReader, aggregate_type: str, limit: int) -> list[str]:
    """Ids of the aggregates of one type touched most recently (at most ``limit``)."""
    seen: dict[str, None] = {}
    for stored in reversed(log.events(aggregate_type=aggregate_type, limit=limit * 8)):
        seen.setdefault(stored.aggregate_id, None)
        if len(seen) >= limit:
            break
    return list(seen)
