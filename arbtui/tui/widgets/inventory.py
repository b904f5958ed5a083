"""Inventory pane: per asset, onchain vs broker, the onchain ratio, drift and the suggested transfer
(:mod:`arbtui.reporting.inventory`). It renders lines; whoever reads the venues feeds it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from arbtui.reporting.inventory import HEADER, Line
from arbtui.tui.widgets._table import Cell, sync_rows


class InventoryPane(DataTable[Cell]):
    """One row per asset; a drifting asset's alert cell in red, with what to move."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns(*(name.replace("_", " ") for name in HEADER))

    def show(self, lines: Sequence[Line]) -> None:
        rows = []
        for line in lines:
            cells: list[Cell] = list(line.row())
            cells[7] = Text(str(cells[7]), style="bold red" if line.alert else "green")
            rows.append((line.holding.asset, cells))
        sync_rows(self, rows)
