"""PnL screen: per symbol the realized PnL, the open shares valued at the latest Pyth price (unrealized,
labelled so) and their total; the cumulative realized PnL of each symbol over time as a chart; and the
inventory across venues.

The books and the Pyth prices come from the engine's read model (one read transaction); the losing-trade
counts and the chart's points from the PnL view over the reporter's read-only connection. Both are read
every few seconds in a thread worker; inventory comes from an optional reader the app passes in. Money
reads in cents (:mod:`arbtui.display`); the exact values are in ``arbtui report … --format json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, Static
from textual_plotext import PlotextPlot

from arbtui import display
from arbtui.domain.pnl import unrealized
from arbtui.domain.values import Shares, Usdc
from arbtui.engine.ports import PythMark, ReadModel
from arbtui.reporting import reports
from arbtui.reporting.database import ReportError, open_readonly, snapshot
from arbtui.reporting.inventory import InventoryReader, Line
from arbtui.tui.widgets._lines import Cell, LineTable, Row
from arbtui.tui.widgets.inventory import InventoryPane

POINTS = 500
"""Trades per symbol on the chart (the latest)."""
REFRESH_S = 3.0
TICKS = 5
"""Labelled ticks on each axis of the chart."""
TOTAL = "total"
"""The key and label of the last row: every symbol together."""

COLUMNS = ("symbol", "trades", "losing", "realized", "open sh", "pyth", "pyth at", "unrealized", "total")
NUMBERS = ("trades", "losing", "realized", "open sh", "pyth", "unrealized", "total")
MONEY = (3, 7, 8)
"""realized, unrealized, total: coloured by sign."""


@dataclass(frozen=True)
class SymbolPnl:
    """One symbol's PnL, exact: realized over its whole book, and its open shares valued at the latest
    Pyth price (``unrealized``; ``None`` when no fill of it carries a Pyth price)."""

    symbol: str
    trades: int
    losing: int
    realized: Usdc
    open: Shares
    pyth: PythMark | None
    unrealized: Usdc | None

    @property
    def total(self) -> Usdc | None:
        """Realized plus unrealized at Pyth (``None`` when open shares have no price to be valued at)."""
        return None if self.unrealized is None else self.realized + self.unrealized


@dataclass(frozen=True)
class PnlSnapshot:
    symbols: list[SymbolPnl]
    series: dict[str, list[tuple[datetime, Decimal]]]
    """Per symbol, the cumulative realized PnL after each of its latest trades, with the trade's time."""

    @property
    def unpriced(self) -> list[str]:
        """Symbols holding open shares that no Pyth price values (their unrealized PnL is unknown)."""
        return [s.symbol for s in self.symbols if s.unrealized is None]

    def total(self) -> SymbolPnl:
        """Every symbol together; unrealized sums the symbols a Pyth price values (see :attr:`unpriced`)."""
        realized, valued = Usdc.zero(), Usdc.zero()
        for pnl in self.symbols:
            realized += pnl.realized
            valued += pnl.unrealized or Usdc.zero()
        return SymbolPnl(
            TOTAL,
            sum(s.trades for s in self.symbols),
            sum(s.losing for s in self.symbols),
            realized,
            Shares.zero(),
            None,
            valued,
        )


def read_pnl(ledger: ReadModel, points: int = POINTS) -> PnlSnapshot:
    """Each symbol's book valued at its latest Pyth price (the read model, one transaction), its losing
    trades and its cumulative series (the PnL view, one read snapshot)."""
    marks = ledger.marks()
    conn = open_readonly(ledger.path)
    try:
        with snapshot(conn):
            losing = {row[0]: int(row[2]) for row in reports.summary_fast(conn)}
            series = {mark.symbol: reports.cumulative_series(conn, mark.symbol, points) for mark in marks}
    finally:
        conn.close()
    symbols = []
    for mark in marks:
        book = mark.book
        value = Usdc.zero() if not book.lots else None if mark.pyth is None else unrealized(book, mark.pyth.price)
        symbols.append(
            SymbolPnl(
                mark.symbol, book.trades, losing.get(mark.symbol, 0), book.realized, book.position, mark.pyth, value
            )
        )
    return PnlSnapshot(
        [s for s in symbols if s.trades],
        {symbol: [(_view_time(at), Decimal(value)) for at, value in rows] for symbol, rows in series.items() if rows},
    )


def _view_time(text: str) -> datetime:
    """A view's time text (UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def pnl_row(pnl: SymbolPnl) -> tuple[str, ...]:
    """The cells of :data:`COLUMNS`: money in cents, open shares to 6 decimals, the Pyth price on the tick
    and the time it was published (UTC)."""
    return (
        pnl.symbol,
        f"{pnl.trades:,}",
        f"{pnl.losing:,}",
        display.usd(pnl.realized),
        "" if pnl.symbol == TOTAL else display.shares(pnl.open),
        "" if pnl.pyth is None else display.price(pnl.pyth.price),
        "" if pnl.pyth is None else pnl.pyth.published_at.strftime("%H:%M:%S"),
        display.usd(pnl.unrealized),
        display.usd(pnl.total),
    )


def styled_row(pnl: SymbolPnl) -> list[Cell]:
    cells: list[Cell] = list(pnl_row(pnl))
    for index, value in zip(MONEY, (pnl.realized, pnl.unrealized, pnl.total), strict=True):
        cells[index] = Text(str(cells[index]), style=display.sign_style(value))
    if pnl.symbol == TOTAL:
        cells = [Text(str(cell), style=f"bold {cell.style if isinstance(cell, Text) else ''}") for cell in cells]
    return cells


class PnlScreen(ModalScreen[None]):
    """``g`` in the console. Escape closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    class Read(Message):
        """A read of the books. Handled by ``PnlScreen.on_pnl_screen_read``."""

        def __init__(self, result: PnlSnapshot | str) -> None:
            super().__init__()
            self.result = result

    class Inventory(Message):
        """A read of the venues. Handled by ``PnlScreen.on_pnl_screen_inventory``."""

        def __init__(self, result: Sequence[Line] | str) -> None:
            super().__init__()
            self.result = result

    def __init__(self, ledger: ReadModel, inventory: InventoryReader | None = None) -> None:
        super().__init__()
        self._ledger = ledger
        self._inventory = inventory
        self.shown: PnlSnapshot | None = None
        """The last snapshot drawn (read by tests)."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide", id="pnl"):
            yield Label("PnL per symbol (USD): realized FIFO over both venues, unrealized at Pyth", classes="question")
            yield LineTable(COLUMNS, numbers=NUMBERS, id="pnl-totals")
            yield Static("", id="pnl-note", classes="hint")
            yield PlotextPlot(id="pnl-chart")
            yield Label("Inventory across venues", classes="question")
            yield InventoryPane(id="inventory")
            yield Static("", id="pnl-status")
            yield Label("Escape to close · refreshes every few seconds · exact values: arbtui report", classes="hint")

    def on_mount(self) -> None:
        self.refresh_all()
        self.set_interval(REFRESH_S, self.refresh_all)

    def refresh_all(self) -> None:
        self._read()
        if self._inventory is not None:
            self._read_inventory()
        else:
            self.query_one("#pnl-status", Static).update("inventory: no vaults configured")

    @work(thread=True, exclusive=True, group="pnl")
    def _read(self) -> None:
        try:
            self.post_message(self.Read(read_pnl(self._ledger)))
        except ReportError as exc:
            self.post_message(self.Read(str(exc)))

    @work(exclusive=True, group="inventory")
    async def _read_inventory(self) -> None:
        assert self._inventory is not None
        try:
            self.post_message(self.Inventory(await self._inventory()))
        except Exception as exc:  # noqa: BLE001 - one line for the operator, the screen stays up
            self.post_message(self.Inventory(f"inventory: {exc}"))

    def on_pnl_screen_read(self, message: PnlScreen.Read) -> None:
        if isinstance(message.result, str):
            self.query_one("#pnl-status", Static).update(message.result)
            return
        snap = self.shown = message.result
        rows: list[Row] = [(pnl.symbol, styled_row(pnl)) for pnl in snap.symbols]
        if snap.symbols:
            rows.append((TOTAL, styled_row(snap.total())))
        self.query_one("#pnl-totals", LineTable).set_rows(rows)
        note = "unrealized: the open shares valued at the latest Pyth price; total = realized + unrealized"
        if snap.unpriced:
            note += f"\nno Pyth price yet for {', '.join(snap.unpriced)}: its open shares are not valued (—)"
        self.query_one("#pnl-note", Static).update(note)
        draw(self.query_one("#pnl-chart", PlotextPlot), snap.series)

    def on_pnl_screen_inventory(self, message: PnlScreen.Inventory) -> None:
        if isinstance(message.result, str):
            self.query_one("#pnl-status", Static).update(message.result)
            return
        self.query_one(InventoryPane).show(message.result)
        drifting = [line.holding.asset for line in message.result if line.alert]
        self.query_one("#pnl-status", Static).update(
            f"inventory drift: {', '.join(drifting)}" if drifting else "inventory within target"
        )

    def action_close(self) -> None:
        self.dismiss(None)


def draw(chart: PlotextPlot, series: dict[str, list[tuple[datetime, Decimal]]]) -> None:
    """Each symbol's cumulative realized PnL against time (UTC), the axes labelled in clock time and in
    cents. Floats are chart pixels only: the values are in the table, exact in the reports."""
    plt = chart.plt
    plt.clear_data()
    plt.title("cumulative realized PnL per symbol (latest trades)")
    times = [at for points in series.values() for at, _ in points]
    values = [value for points in series.values() for _, value in points]
    for symbol, points in series.items():
        plt.plot([at.timestamp() for at, _ in points], [float(value) for _, value in points], label=symbol)
    if times:
        first, last = min(times), max(times)
        form = "%H:%M:%S" if last - first < _DAY else "%m-%d %H:%M"
        ticks = _ticks(first.timestamp(), last.timestamp())
        plt.xticks(ticks, [datetime.fromtimestamp(tick, UTC).strftime(form) for tick in ticks])
        low, high = float(min(values)), float(max(values))
        yticks = _ticks(low, high)
        plt.yticks(yticks, [display.usd(Decimal(repr(tick))) for tick in yticks])
    plt.xlabel("time (UTC)")
    chart.refresh()


_DAY = datetime(2000, 1, 2, tzinfo=UTC) - datetime(2000, 1, 1, tzinfo=UTC)


def _ticks(low: float, high: float) -> list[float]:
    if high <= low:
        return [low]
    step = (high - low) / (TICKS - 1)
    return [low + step * n for n in range(TICKS)]
