"""PnL screen: totals per symbol, the cumulative realized PnL of each symbol as a chart, and the
inventory across venues. Reads the ledger over a read-only connection (the reporter's), refreshed
every few seconds in a thread worker; inventory comes from an optional reader the app passes in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static
from textual_plotext import PlotextPlot

from arbtui.reporting import reports
from arbtui.reporting.database import ReportError, open_readonly, snapshot
from arbtui.reporting.inventory import InventoryReader, Line
from arbtui.tui.widgets._table import Cell, sync_rows
from arbtui.tui.widgets.inventory import InventoryPane

POINTS = 500
"""Trades per symbol on the chart (the latest)."""
REFRESH_S = 3.0


@dataclass(frozen=True)
class PnlSnapshot:
    totals: list[tuple[str, ...]]
    series: dict[str, list[str]]


def read_pnl(ledger: Path, points: int = POINTS) -> PnlSnapshot:
    """Totals and each symbol's cumulative series, from one read snapshot of the ledger."""
    conn = open_readonly(ledger)
    try:
        with snapshot(conn):
            totals = reports.summary_fast(conn)
            series = {row[0]: reports.cumulative_series(conn, row[0], points) for row in totals}
        return PnlSnapshot(totals, series)
    finally:
        conn.close()


class PnlScreen(ModalScreen[None]):
    """``g`` in the console. Escape closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    class Read(Message):
        def __init__(self, result: PnlSnapshot | str) -> None:
            super().__init__()
            self.result = result

    class Inventory(Message):
        def __init__(self, result: Sequence[Line] | str) -> None:
            super().__init__()
            self.result = result

    def __init__(self, ledger: Path, inventory: InventoryReader | None = None) -> None:
        super().__init__()
        self._ledger = ledger
        self._inventory = inventory

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="pnl"):
            yield Label("Realized PnL (FIFO over both venues, USD)", classes="question")
            yield DataTable(id="pnl-totals", cursor_type="row")
            yield PlotextPlot(id="pnl-chart")
            yield Label("Inventory across venues", classes="question")
            yield InventoryPane(id="inventory")
            yield Static("", id="pnl-status")
            yield Label("Escape to close · refreshes every few seconds", classes="hint")

    def on_mount(self) -> None:
        totals = self.query_one("#pnl-totals", DataTable)
        totals.add_columns(*(name.replace("_", " ") for name in reports.SUMMARY_HEADER))
        self.query_one("#pnl-chart", PlotextPlot).styles.height = 14
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
        snap = message.result
        sync_rows(self.query_one("#pnl-totals", DataTable), [(row[0], list[Cell](row)) for row in snap.totals])
        chart = self.query_one("#pnl-chart", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.title("cumulative realized PnL per symbol (latest trades)")
        for symbol, values in snap.series.items():
            # chart pixels only: the exact values are in the table and the reports
            plt.plot([float(Decimal(v)) for v in values], label=symbol)
        chart.refresh()

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
