"""The onchain fills pane: newest first."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from arbtui.domain.onchain_trade import OnChainTrade
from arbtui.tui.model import Versioned, fill_row
from arbtui.tui.widgets._table import Cell, sync_slots

SHOWN = 50
"""Rows in the pane (the newest; the model keeps more for the history). Each new fill rewrites the rows
below it, so the pane's cost per repaint grows with this, not with the fill rate."""
COLUMNS = ("time", "block", "symbol", "side", "shares", "price", "pyth", "tx")


class FillsPane(DataTable[Cell]):
    """Every fill of our orders the engine recorded, newest first (bounded by the model). Rows are
    positions, not fills: a new fill rewrites the cells below it instead of rebuilding the table."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.border_title = "Onchain fills"

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show(self, fills: tuple[Versioned, ...]) -> None:
        rows: list[list[Cell]] = []
        for versioned in fills[:SHOWN]:
            trade: OnChainTrade = versioned.state
            cells: list[Cell] = list(fill_row(trade))
            side = cells[3]
            cells[3] = Text(str(side), style="green" if str(side).startswith("BUY") else "red")
            rows.append(cells)
        sync_slots(self, rows)
        self.border_subtitle = f"{len(fills)}"
