"""The reports: PnL per trade, unprofitable trades, the unified trade stream, and totals per symbol.

Each report is a query over the views and a generator over its cursor (fetched in batches), so a
report over a million trades holds one batch at a time. Values stay the exact decimal strings the
views store; the totals are summed exactly.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from arbtui.domain.values import EXACT, canonical

FETCH = 2000
"""Rows fetched from the cursor per round."""

PNL_HEADER = (
    "timestamp",
    "symbol",
    "trade_type",
    "trade_id",
    "direction",
    "quantity",
    "price_usd",
    "realized_pnl",
    "cumulative_pnl",
    "net_position_after",
)
TRADES_HEADER = ("timestamp", "symbol", "trade_type", "direction", "quantity", "price_usd", "trade_ref")
SUMMARY_HEADER = ("symbol", "trades", "losing_trades", "realized_pnl", "cumulative_pnl", "net_position")

_PNL_SELECT = (
    "SELECT timestamp, symbol, trade_type, json_extract(payload, '$.trade_id'), trade_direction,"
    " json_extract(payload, '$.quantity'), json_extract(payload, '$.price_per_share'),"
    " json_extract(payload, '$.realized_pnl'), json_extract(payload, '$.cumulative_pnl'),"
    " json_extract(payload, '$.net_position_after') FROM metrics_pnl_view"
)
_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class BadFilter(ValueError):
    """A filter the operator typed that cannot be understood (one line)."""


@dataclass(frozen=True)
class Filters:
    symbol: str | None = None
    since: str | None = None
    """View time text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), compared as text like the views' columns."""


def parse_since(text: str, now: datetime | None = None) -> str:
    """``--since``: ISO-8601 (a date, or a time — UTC unless it has an offset) or a relative age
    (``30m``, ``12h``, ``7d``, ``2w``), as the views' time text."""
    moment = parse_moment(text, now, option="--since")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def parse_moment(text: str, now: datetime | None = None, *, option: str = "--since") -> datetime:
    """An instant the operator typed: ISO-8601 (UTC unless it has an offset) or an age before ``now``
    (``30m``, ``12h``, ``7d``, ``2w``), as an aware UTC datetime. ``option`` names it in the error."""
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        moment = (now or datetime.now(UTC)) - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise BadFilter(
                f"{option} {text!r}: expected ISO-8601 (2026-11-24T14:30) or an age (30m, 12h, 7d)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _where(filters: Filters, time_column: str, extra: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    clauses, params = list(extra), []
    if filters.symbol is not None:
        clauses.append("symbol = ?")
        params.append(filters.symbol.upper())
    if filters.since is not None:
        clauses.append(f"{time_column} >= ?")
        params.append(filters.since)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


Batch = list[tuple[str, ...]]
"""Rows as the cursor fetched them: every value is the view's text (``None`` only where it has none)."""


def _stream(cursor: sqlite3.Cursor) -> Iterator[Batch]:
    while batch := cursor.fetchmany(FETCH):
        yield batch


def pnl(conn: sqlite3.Connection, filters: Filters = Filters(), *, losses_only: bool = False) -> Iterator[Batch]:
    """Every trade's PnL row (:data:`PNL_HEADER`), oldest first, in batches. ``losses_only``: the trades whose
    matches realized a loss (the "unprofitable trades" report)."""
    where, params = _where(
        filters, "timestamp", ("json_extract(payload, '$.realized_pnl') LIKE '-%'",) if losses_only else ()
    )
    return _stream(conn.execute(f"{_PNL_SELECT}{where} ORDER BY timestamp, symbol, version", params))


def trades(conn: sqlite3.Connection, filters: Filters = Filters()) -> Iterator[Batch]:
    """Onchain and filled broker trades in one stream (``unified_trade_view``), oldest first."""
    where, params = _where(filters, "created_at")
    return _stream(
        conn.execute(
            "SELECT created_at, symbol, trade_type, direction, quantity_exact, price_exact, trade_ref"
            f" FROM unified_trade_view{where} ORDER BY created_at, trade_type, trade_ref",
            params,
        )
    )


@dataclass
class SymbolTotals:
    """A symbol's first and last PnL rows in a report, and how many lay between: realized over the
    report is the last cumulative minus what was cumulated before the first row (exact, two
    subtractions per symbol instead of an addition per row)."""

    first: tuple[str, ...]
    last: tuple[str, ...]
    trades: int = 0
    losing: int = 0

    def row(self) -> tuple[str, ...]:
        before = EXACT.subtract(Decimal(self.first[8]), Decimal(self.first[7]))
        realized = EXACT.subtract(Decimal(self.last[8]), before)
        return (self.last[1], str(self.trades), str(self.losing), canonical(realized), self.last[8], self.last[9])


@dataclass
class PnlTotals:
    """Per-symbol totals folded from PnL rows as they stream past (memory: one entry per symbol)."""

    symbols: dict[str, SymbolTotals] = field(default_factory=dict)

    def add(self, batch: Batch) -> Batch:
        """Fold ``batch`` in and hand it on."""
        symbols = self.symbols
        for row in batch:
            totals = symbols.get(row[1])
            if totals is None:
                totals = symbols[row[1]] = SymbolTotals(row, row)
            totals.last = row
            totals.trades += 1
            if row[7][0] == "-":
                totals.losing += 1
        return batch

    def rows(self) -> list[tuple[str, ...]]:
        return [self.symbols[s].row() for s in sorted(self.symbols)]


def summary(conn: sqlite3.Connection, filters: Filters = Filters()) -> list[tuple[str, ...]]:
    """Totals per symbol (:data:`SUMMARY_HEADER`) over the filtered PnL rows."""
    totals = PnlTotals()
    for batch in pnl(conn, filters):
        totals.add(batch)
    return totals.rows()


def summary_fast(conn: sqlite3.Connection) -> list[tuple[str, ...]]:
    """Totals per symbol over every PnL row in one grouped scan (the watch view): trades, losing
    trades, realized (the last cumulative), position after the last trade."""
    out: list[tuple[str, ...]] = []
    for symbol, count, losing, cumulative, position, _ in conn.execute(
        "SELECT symbol, count(*), sum(json_extract(payload, '$.realized_pnl') LIKE '-%'),"
        " json_extract(payload, '$.cumulative_pnl'), json_extract(payload, '$.net_position_after'), max(version)"
        " FROM metrics_pnl_view GROUP BY symbol ORDER BY symbol"
    ):  # SQLite: the bare columns come from the row holding max(version), the symbol's last trade
        out.append((str(symbol), str(count), str(losing), str(cumulative), str(cumulative), str(position)))
    return out


def recent_trades(conn: sqlite3.Connection, limit: int) -> list[tuple[str, ...]]:
    """The latest ``limit`` trades of the unified stream, oldest first."""
    rows = conn.execute(
        "SELECT created_at, symbol, trade_type, direction, quantity_exact, price_exact, trade_ref"
        " FROM unified_trade_view ORDER BY created_at DESC, trade_type DESC, trade_ref DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [tuple(row) for row in reversed(rows)]


def cumulative_series(conn: sqlite3.Connection, symbol: str, limit: int) -> list[tuple[str, str]]:
    """The symbol's cumulative PnL after each of its last ``limit`` trades, oldest first, with the trade's
    time (the view's UTC text): the chart's points."""
    rows = conn.execute(
        "SELECT timestamp, json_extract(payload, '$.cumulative_pnl') FROM metrics_pnl_view WHERE symbol = ?"
        " ORDER BY timestamp DESC, version DESC LIMIT ?",
        (symbol, limit),
    ).fetchall()
    return [(str(at), str(value)) for at, value in reversed(rows)]
