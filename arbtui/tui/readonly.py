"""The console's only reads of the ledger: a read-only connection, through the store's log reader.

Used twice: once at start-up to seed the panes with what happened before the console opened (the bus
only carries what happens after), and by the history screen to show a position as it was at an instant.
Both are blocking and run in thread workers.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from arbtui.domain import control, offchain_order, onchain_trade, position
from arbtui.store.log import LogReader
from arbtui.store.migrate import connect_sync
from arbtui.tui.model import MAX_FILLS, MAX_ORDERS

Seed = list[tuple[str, str, int, Any]]
"""``(aggregate_type, aggregate_id, version, state)`` rows."""


def read_seed(path: Path) -> Seed:
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
        for aggregate_type, limit in ((onchain_trade.AGGREGATE, MAX_FILLS), (offchain_order.AGGREGATE, MAX_ORDERS)):
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
