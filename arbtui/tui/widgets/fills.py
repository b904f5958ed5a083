"""The onchain fills pane: newest first."""

from __future__ import annotations

from rich.text import Text

from arbtui.domain.onchain_trade import OnChainTrade
from arbtui.reporting.detail import Kind
from arbtui.tui.model import Versioned, fill_row
from arbtui.tui.widgets._detail import DetailTable
from arbtui.tui.widgets._lines import Cell, Row

SHOWN = 50
"""Rows in the pane (the newest; the model keeps more for the history)."""
COLUMNS = ("time", "block", "symbol", "side", "shares", "price", "pyth", "tx")
NUMBERS = ("shares", "price", "pyth")


class FillsPane(DetailTable):
    """Every fill of our orders the engine recorded, newest first (bounded by the model). A fill's row is
    rendered once, when it arrives; a new fill pushes the others down without rendering them again, and
    the cursor stays on its line."""

    detail_kind = Kind.FILL

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, numbers=NUMBERS, zebra_stripes=True, follow_key=False, id=id)
        self.border_title = "Onchain fills"

    def show(self, fills: tuple[Versioned, ...]) -> None:
        rows: list[Row] = []
        for versioned in fills[:SHOWN]:
            trade: OnChainTrade = versioned.state
            cells: list[Cell] = list(fill_row(trade))
            side = str(cells[3])
            cells[3] = Text(side, style="green" if side.startswith("BUY") else "red")
            rows.append((str(trade.trade_id), cells))
        self.set_rows(rows)
        self.border_subtitle = f"{len(fills)}"
