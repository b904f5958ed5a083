"""The ledger as the console reads it (:class:`~arbtui.engine.ports.ReadModel`): a read-only connection
through the store's log reader, opened for each read.

Used at start-up to seed the panes with what happened before the console opened (the bus only carries
what happens after), by the history screen to show a position as it was at an instant, and by the detail
screens (Enter on a pane's row) to show one aggregate's events and links. All are blocking: callers run
them in thread workers.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from arbtui.domain import control, offchain_order, onchain_trade, position
from arbtui.domain.pnl import PnlBook
from arbtui.domain.values import PriceUsdc
from arbtui.store.detail import Detail, read_detail
from arbtui.store.log import LogReader
from arbtui.store.migrate import connect_sync

Seed = list[tuple[str, str, int, Any]]
"""``(aggregate_type, aggregate_id, version, state)`` rows."""


@dataclass(frozen=True)
class PythMark:
    """The latest Pyth price the ledger holds for a symbol: of all the Pyth reads recorded with its fills,
    the one published last (exact, as the fill's enrichment recorded it)."""

    price: PriceUsdc
    published_at: datetime


@dataclass(frozen=True)
class Mark:
    """A symbol's FIFO book as the ledger holds it now (realized PnL, open lots, trades) and the latest
    Pyth price to value its open lots at (``None``: no fill of it carries a Pyth price)."""

    symbol: str
    book: PnlBook
    pyth: PythMark | None


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

    def marks(self) -> list[Mark]:
        """Every symbol's book and latest Pyth price, by symbol, from one read transaction."""
        return read_marks(self.path)


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


def read_marks(path: Path) -> list[Mark]:
    """Every position's PnL book and its symbol's latest Pyth price, read in one transaction (the books and
    the prices describe the same instant)."""
    conn = connect_sync(path, readonly=True)
    try:
        conn.execute("BEGIN")
        log = LogReader(conn)
        prices = latest_pyth_prices(conn)
        marks = []
        for symbol in sorted(log.aggregate_ids(position.AGGREGATE)):
            state, _ = log.replay(position.AGGREGATE, symbol)
            marks.append(Mark(symbol, state.book, prices.get(symbol)))
        conn.execute("COMMIT")
        return marks
    finally:
        conn.close()


def latest_pyth_prices(conn: sqlite3.Connection) -> dict[str, PythMark]:
    """Per symbol, the Pyth price published last among those recorded with its fills (``onchain_trade_view``)."""
    found: dict[str, PythMark] = {}
    for symbol, price, published in conn.execute(  # SQLite: the bare column comes from the max() row
        "SELECT symbol, json_extract(payload, '$.pyth_price.price'),"
        " max(CAST(json_extract(payload, '$.pyth_price.publish_time') AS INTEGER))"
        " FROM onchain_trade_view WHERE json_extract(payload, '$.pyth_price.price') IS NOT NULL GROUP BY symbol"
    ):
        found[str(symbol)] = PythMark(PriceUsdc(str(price)), datetime.fromtimestamp(int(published), UTC))
    return found


def _latest_ids(log: LogReader, aggregate_type: str, limit: int) -> list[str]:
    """Ids of the aggregates of one type touched most recently (at most ``limit``)."""
    seen: dict[str, None] = {}
    for stored in reversed(log.events(aggregate_type=aggregate_type, limit=limit * 8)):
        seen.setdefault(stored.aggregate_id, None)
        if len(seen) >= limit:
            break
    return list(seen)
