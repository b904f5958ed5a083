"""Inventory pane: per asset, onchain vs broker, the onchain ratio, drift and the suggested transfer
(:mod:`arbtui.reporting.inventory`). It renders lines; whoever reads the venues feeds it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from arbtui.reporting.inventory import HEADER, Line
from arbtui.tui.widgets._lines import Cell, LineTable, Row

COLUMNS = tuple(name.replace("_", " ") for name in HEADER)
NUMBERS = ("onchain", "broker", "total", "unhedged", "onchain ratio", "drift")
"""Lined up on their decimal points (USDC in cents, equities in shares, as :meth:`Line.row` shows them)."""


class InventoryPane(LineTable):
    """One row per asset, amounts as people read them; a drifting asset's alert cell in red, with what to
    move (rounded the same way; the exact amounts are in ``arbtui report inventory --format json``)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, numbers=NUMBERS, id=id)

    def show(self, lines: Sequence[Line]) -> None:
        rows: list[Row] = []
        for line in lines:
            cells: list[Cell] = list(line.row(shown=True))
            cells[7] = Text(str(cells[7]), style="bold red" if line.alert else "green")
            rows.append((line.holding.asset, cells))
        self.set_rows(rows)
